"""Ship the lookup server's closed impression and feedback logs into the lake's raw zone.

The server (lookup_server/experiments.py) moves each finished log file to `<logs>/closed/` under a
name unique to its host, process and closing time, and never writes it again. ship() copies every
closed file's lines to `{raw}/<kind>/dt=<UTC date of each line>/<file name>` (a local folder, or
s3:// / s3a:// through boto3), then moves the file to `<logs>/shipped/`.

Idempotent: an object's name and content depend only on the closed file, so a rerun, a retried task
or a crash between the copy and the move writes the same objects again: no line is ever
duplicated, and none is removed before it was copied. A line that is not JSON or has no time goes
to the file's closing date, unchanged; the report job quarantines it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections import defaultdict
from pathlib import Path

log = logging.getLogger(__name__)
KINDS = ("impressions", "feedback")


def split_by_date(path: Path) -> dict[str, list[str]]:
    """A closed log's lines grouped by the UTC date of their "time" (the file's own date for unreadable lines)."""
    fallback = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).date().isoformat()
    days: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            line = line if line.endswith("\n") else line + "\n"
            try:
                when = float(json.loads(line)["time"])
                day = dt.datetime.fromtimestamp(when, dt.UTC).date().isoformat()
            except (ValueError, KeyError, TypeError, OverflowError, OSError):
                day = fallback
            days[day].append(line)
    return days


def _write_local(root: Path, key: str, body: str) -> None:
    target = root / key
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(target)


def destination(raw: str, s3_settings):
    """A writer (key, body) -> None for raw: a local folder, or s3:// / s3a:// (bucket and prefix from the URL)."""
    scheme = next((s for s in ("s3://", "s3a://") if raw.startswith(s)), None)
    if scheme:
        import boto3

        bucket, _, prefix = raw[len(scheme):].partition("/")
        client = boto3.client("s3", endpoint_url=s3_settings.endpoint_url, region_name=s3_settings.region)

        def put(key: str, body: str) -> None:
            client.put_object(Bucket=bucket, Key=f"{prefix.strip('/')}/{key}".lstrip("/"), Body=body.encode("utf-8"))
        return put
    if "://" in raw and not raw.startswith("file://"):
        raise ValueError(f"cannot ship logs to {raw}: a local folder, file://, s3:// or s3a:// only")
    root = Path(raw.removeprefix("file://"))
    return lambda key, body: _write_local(root, key, body)


def ship(logs_dir: str, raw: str, s3_settings) -> dict:
    """Copy every closed log under logs_dir to {raw}/<kind>/dt=D/ and move it to shipped/; returns counts."""
    closed, shipped = Path(logs_dir) / "closed", Path(logs_dir) / "shipped"
    files = sorted(p for p in closed.glob("*.jsonl") if p.name.split("-", 1)[0] in KINDS) if closed.is_dir() else []
    if not files:
        return {"files": 0, "lines": {}, "dates": [], "logs_dir": str(logs_dir)}
    put = destination(raw, s3_settings)
    lines: dict[str, int] = defaultdict(int)
    dates: set[str] = set()
    shipped.mkdir(exist_ok=True)
    for path in files:
        kind = path.name.split("-", 1)[0]
        for day, day_lines in split_by_date(path).items():
            put(f"{kind}/dt={day}/{path.name}", "".join(day_lines))
            lines[kind] += len(day_lines)
            dates.add(day)
        path.replace(shipped / path.name)
        log.info("shipped %s", path.name)
    return {"files": len(files), "lines": dict(lines), "dates": sorted(dates), "logs_dir": str(logs_dir)}
