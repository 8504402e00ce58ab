"""Write Arrow tables as canonical raw files (JSONL, CSV or Parquet), optionally with damaged rows."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SUFFIX = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet"}


def write_table(table: pa.Table, stem: Path, fmt: str, compress: bool, bad_share: float = 0.0,
                rng: np.random.Generator | None = None) -> Path:
    """Write `table` to `stem` + the format's suffix (+ .gz); return the file's path.

    Text formats write timestamps as ISO-8601 UTC to the second ("2026-11-01T10:00:00Z"). Gzip output
    carries no timestamp, so the same table gives the same bytes.
    """
    stem.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        path = stem.with_name(stem.name + SUFFIX[fmt])
        pq.write_table(table, path)
        return path
    frame = _timestamps_as_text(table).to_pandas()
    if fmt == "csv":
        text = frame.to_csv(index=False)
    else:
        text = frame.to_json(orient="records", lines=True, force_ascii=False)
        if bad_share > 0:
            text = damage_lines(text, bad_share, rng or np.random.default_rng(0))
    path = stem.with_name(stem.name + SUFFIX[fmt] + (".gz" if compress else ""))
    data = text.encode()
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


def _timestamps_as_text(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            seconds = pc.cast(table.column(i), pa.timestamp("s", tz="UTC"), safe=False)
            text = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")
            table = table.set_column(i, field.name, text)
    return table


# One damage of each kind the ingest job must quarantine, applied in turn.
DAMAGES = {
    "unparsable": lambda row: None,
    "missing_user_id": lambda row: row.update(user_id=None),
    "missing_item_id": lambda row: row.update(item_id=""),
    "unknown_event_type": lambda row: row.update(event_type="click"),
    "bad_timestamp": lambda row: row.update(event_time="yesterday at noon"),
    "future_timestamp": lambda row: row.update(event_time="2999-01-01T00:00:00Z"),
    "negative_price": lambda row: row.update(price=-abs(row.get("price") or 1.0)),
    "non_numeric_price": lambda row: row.update(price="ten"),
    "non_numeric_quantity": lambda row: row.update(quantity="two"),
    "negative_quantity": lambda row: row.update(quantity=-2),
    "missing_order_id": lambda row: row.update(event_type="purchase", order_id=None),
    "duplicate_event": lambda row: None,
}


def damage_lines(text: str, share: float, rng: np.random.Generator) -> str:
    """Damage about `share` of the JSON lines, cycling through DAMAGES; duplicates are appended."""
    lines = text.splitlines()
    count = int(round(len(lines) * share))
    picked = np.sort(rng.choice(len(lines), size=min(count, len(lines)), replace=False))
    kinds = list(DAMAGES)
    extra = []
    for n, index in enumerate(picked):
        kind = kinds[n % len(kinds)]
        if kind == "unparsable":
            lines[index] = lines[index][: len(lines[index]) // 2]
        elif kind == "duplicate_event":
            extra.append(lines[index])
        else:
            row = json.loads(lines[index])
            DAMAGES[kind](row)
            lines[index] = json.dumps(row)
    return "\n".join(lines + extra) + "\n"
