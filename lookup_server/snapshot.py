"""One open snapshot (read-only RocksDB) and the hot-swapping holder of the live one.

Each gunicorn worker opens the snapshot itself, after fork. Between requests a worker
looks at CURRENT at most every serve.poll_seconds; a new name is validated (checksums and
a sample of values, export/store.py) before it is opened and swapped in, so a corrupt
snapshot is refused and the old one keeps serving. The swap replaces one reference:
a request holds the reader it started with.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from export import codec, manifest, store
from export.format import COLUMN_FAMILIES, SnapshotError, is_name, open_read_only
from lookup_server import metrics

log = logging.getLogger(__name__)
META_CACHE_ITEMS = 500_000
MALFORMED = "<malformed CURRENT>"


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


def signature(folder: Path) -> tuple | None:
    """What a refused snapshot's files look like (names, sizes, modification times): a change means try again."""
    try:
        return tuple(sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                            for p in folder.rglob("*") if manifest.is_data_file(p) or p.name == manifest.NAME))
    except OSError:
        return None


class SnapshotHolder:
    """The live snapshot of a snapshots root, swapped when CURRENT changes and the new one validates.

    A snapshot that fails to validate or open is refused until its files change (it is retried then,
    e.g. after a restored file). A worker that holds no snapshot and cannot open CURRENT's serves the
    newest earlier snapshot that validates (a fallback, counted and shown in /v1/snapshot and /metrics)
    instead of answering 503. A malformed CURRENT (junk bytes, a path) is logged and changes nothing.
    """

    def __init__(self, root: Path, poll_seconds: float, validate_sample: int):
        self.root = Path(root)
        self.poll_seconds = poll_seconds
        self.validate_sample = validate_sample
        self.live: Snapshot | None = None
        self.wanted: str | None = None             # the name CURRENT holds
        self.refused: dict[str, tuple | None] = {}  # name -> its files' signature when refused
        self.checked_at = 0.0
        self.lock = threading.Lock()

    @property
    def fallback(self) -> bool:
        """Serving another snapshot than the one CURRENT names."""
        return self.live is not None and self.wanted is not None and self.live.name != self.wanted

    def refresh(self, force: bool = False) -> Snapshot | None:
        """Swap in a new CURRENT if there is one and it validates; return the live snapshot (or None)."""
        now = time.monotonic()
        if not force and self.live is not None and now - self.checked_at < self.poll_seconds:
            return self.live
        with self.lock:        # one thread looks; the others wait for it rather than answer without a snapshot
            if not force and self.live is not None and now - self.checked_at < self.poll_seconds:
                return self.live
            self.checked_at = time.monotonic()
            try:
                name = store.current(self.root)
            except SnapshotError as err:
                if self.wanted != MALFORMED:
                    log.error("%s; still serving %s", err, self.live.name if self.live else None)
                self.wanted = MALFORMED
                if self.live is None:
                    self.live = self.newest_valid_before(MALFORMED)
                return self.live
            self.wanted = name
            if name is None or (self.live is not None and name == self.live.name):
                return self.live
            fresh = self.open(name)
            if fresh is not None:
                old, self.live = self.live, fresh
                log.info("snapshot %s is live (was %s)", name, old.name if old else None)
            elif self.live is None:
                self.live = self.newest_valid_before(name)
            return self.live

    def open(self, name: str) -> Snapshot | None:
        """The validated, opened snapshot `name`, or None (refused: logged, and not retried until its files change)."""
        folder = self.root / name
        if not is_name(name) or not folder.resolve().is_relative_to(self.root.resolve()):
            if name not in self.refused:
                log.error("CURRENT names %r, outside %s: refused", name, self.root)
            self.refused[name] = None
            return None
        seen = signature(folder)
        if name in self.refused and self.refused[name] == seen:
            return None
        try:
            store.validate(folder, self.validate_sample)
            fresh = Snapshot(folder)
        except Exception as err:   # a bad snapshot (SnapshotError, I/O, RocksDB) must never take the worker down
            log.error("snapshot %s refused, still serving %s: %s", name, self.live.name if self.live else None, err)
            self.refused[name] = seen
            return None
        self.refused.pop(name, None)
        return fresh

    def newest_valid_before(self, name: str) -> Snapshot | None:
        """The newest published (else finished) snapshot other than `name` that opens: this worker's fallback."""
        published = list(dict.fromkeys(reversed(store.history(self.root))))
        for candidate in published + list(reversed(store.snapshots(self.root))):
            if candidate == name or not (self.root / candidate).is_dir():
                continue
            found = self.open(candidate)
            if found is not None:
                log.warning("serving %s: the live snapshot %s cannot be opened", candidate, name)
                metrics.count_snapshot_fallback()
                return found
        return None
