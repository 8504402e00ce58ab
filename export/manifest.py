"""MANIFEST.json: what a snapshot holds and the sha256 of every file, written last into its folder."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

SCHEMA_VERSION = 1
NAME = "MANIFEST.json"


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def is_data_file(path: Path) -> bool:
    """Files a manifest covers: not itself, and not RocksDB's info logs (LOG, LOG.old.*), which every open,
    even a read-only one, writes to."""
    return path.is_file() and path.name != NAME and not (path.name == "LOG" or path.name.startswith("LOG.old"))


def file_table(folder: Path) -> dict[str, dict]:
    """Relative path -> {sha256, bytes} of every data file under folder."""
    return {str(p.relative_to(folder)): {"sha256": sha256_of(p), "bytes": p.stat().st_size}
            for p in sorted(folder.rglob("*")) if is_data_file(p)}


def write(folder: Path, run_date: dt.date, digest: str, counts: dict[str, int], metrics: dict | None) -> dict:
    """Write folder/MANIFEST.json (via a temporary file and rename) and return it."""
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "run_date": run_date.isoformat(),
        "digest": digest,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "counts": counts,
        "metrics": metrics or {},
        "files": file_table(folder),
    }
    tmp = folder / (NAME + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tmp.replace(folder / NAME)
    return manifest


def read(folder: Path) -> dict:
    return json.loads((folder / NAME).read_text())
