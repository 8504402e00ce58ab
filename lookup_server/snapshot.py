"""One open snapshot (read-only RocksDB) and the hot-swapping holder of the live one.

Each gunicorn worker opens the snapshot itself, after fork. Between requests a worker
looks at CURRENT at most every serve.poll_seconds; a new name is validated (checksums and
a sample of values, export/store.py) before it is opened and swapped in, so a corrupt
snapshot is refused and the old one keeps serving. The swap replaces one reference:
a request holds the reader it started with.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from export import codec, manifest, store
from export.format import COLUMN_FAMILIES, open_read_only

log = logging.getLogger(__name__)
META_CACHE_ITEMS = 500_000


class Snapshot:
    """Read-only access to one snapshot's column families."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.name = self.folder.name
        self.manifest = manifest.read(self.folder)
        self.db = open_read_only(self.folder)
        self.families = {cf: self.db.get_column_family(cf) for cf in COLUMN_FAMILIES}
        self.opened_at = time.time()
        self.meta_cache: dict[str, dict | None] = {}

    def lists(self, family: str, keys: list[str], limit: int | None = None) -> list[list[codec.Entry] | None]:
        """Decoded lists for keys (None where absent; the first `limit` entries when given), one multi-get."""
        if not keys:
            return []
        values = self.families[family].get([k.encode() for k in keys])
        return [codec.decode_list(v, limit) if v is not None else None for v in values]

    def items(self, ids: list[str]) -> dict[str, dict]:
        """item_meta of the ids that the catalog knows: a per-worker cache (the snapshot never changes),
        then one multi-get for the misses."""
        cache = self.meta_cache
        missing = [i for i in ids if i not in cache]
        if missing:
            if len(cache) > META_CACHE_ITEMS:
                cache.clear()
            for item, value in zip(missing, self.families["item_meta"].get([i.encode() for i in missing])):
                cache[item] = codec.decode_meta(value) if value is not None else None
        return {i: cache[i] for i in ids if cache.get(i) is not None}

    def info(self) -> dict:
        m = self.manifest
        return {"id": self.name, "run_date": m["run_date"], "digest": m["digest"], "created_at": m["created_at"],
                "counts": m["counts"], "metrics": m.get("metrics", {})}

    def close(self) -> None:
        self.db.close()


class SnapshotHolder:
    """The live snapshot of a snapshots root, swapped when CURRENT changes and the new one validates."""

    def __init__(self, root: Path, poll_seconds: float, validate_sample: int):
        self.root = Path(root)
        self.poll_seconds = poll_seconds
        self.validate_sample = validate_sample
        self.live: Snapshot | None = None
        self.refused: set[str] = set()
        self.checked_at = 0.0

    def refresh(self, force: bool = False) -> Snapshot | None:
        """Swap in a new CURRENT if there is one and it validates; return the live snapshot (or None)."""
        now = time.monotonic()
        if not force and now - self.checked_at < self.poll_seconds:
            return self.live
        self.checked_at = now
        name = store.current(self.root)
        if name is None or (self.live is not None and name == self.live.name) or name in self.refused:
            return self.live
        folder = self.root / name
        if not folder.resolve().is_relative_to(self.root.resolve()):
            log.error("CURRENT names %r, outside %s: refused", name, self.root)
            self.refused.add(name)
            return self.live
        try:
            store.validate(folder, self.validate_sample)
            fresh = Snapshot(folder)
        except Exception as err:   # a bad snapshot (SnapshotError, I/O, RocksDB) must never take the worker down
            log.error("snapshot %s refused, still serving %s: %s", name, self.live.name if self.live else None, err)
            self.refused.add(name)
            return self.live
        old, self.live = self.live, fresh
        log.info("snapshot %s is live (was %s)", name, old.name if old else None)
        return self.live
