"""Home-page A/B tests: stable assignment and impression logs.

A user's variant is the bucket of sha256("<experiment>:<user_id>") among 10,000, cut by
the variants' shares in their configured order: the same on every worker, host and
restart (Python's hash() is salted per process, so it is never used). Each answer is
logged as one JSON line (request id, time, endpoint, user, experiment, variant, source,
items) to {serve.impressions_dir}/impressions-<pid>.jsonl, rotated by size; one file per
worker because rotation is not safe across processes.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import threading
import time
from pathlib import Path

import orjson

from export.format import pid_alive

BUCKETS = 10_000
DEFAULT = "default"


def assign(experiment, user_id: str) -> str:
    """The variant of user_id in experiment (an ExperimentConfig), or "default" when none runs."""
    if experiment is None:
        return DEFAULT
    digest = hashlib.sha256(f"{experiment.name}:{user_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % BUCKETS
    edge = 0.0
    names = list(experiment.variants)
    for name in names:
        edge += experiment.variants[name].share * BUCKETS
        if bucket < edge:
            return name
    return names[-1]


class ImpressionLog:
    """Append-only JSON lines of what was shown, per worker process, rotated by size.

    Lines go through a 64 KB buffer that is flushed at least every second (and at exit),
    so logging costs a string join, not a system call, per request; a lock keeps the lines of
    a worker's threads whole. A worker that exits closes its file and removes it when empty;
    a starting worker removes the logs of exited workers older than keep_days.
    """

    def __init__(self, folder: str, max_mb: int, backups: int, flush_seconds: float = 1.0, keep_days: float = 7.0):
        self.folder, self.max_bytes, self.backups = Path(folder), max_mb * 1024 * 1024, backups
        self.flush_seconds, self.keep_seconds = flush_seconds, keep_days * 86400
        self.pid, self.handle, self.path, self.size, self.flushed = None, None, None, 0, 0.0
        self.lock = threading.Lock()

    def _open(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        self.remove_old()
        self.path = self.folder / f"impressions-{os.getpid()}.jsonl"
        self.handle = self.path.open("a", buffering=64 * 1024)
        self.size = self.path.stat().st_size
        self.pid = os.getpid()
        atexit.register(self.close)

    def close(self) -> None:
        """Flush and close this worker's log; an empty one is removed."""
        with self.lock:
            if self.handle is None or self.pid != os.getpid():
                return
            self.handle.close()
            self.handle = None
            if self.path.is_file() and self.path.stat().st_size == 0:
                self.path.unlink()

    def remove_old(self) -> None:
        """Remove the logs (and rotated parts) of exited workers: the empty ones, and those older than keep_days."""
        cutoff = time.time() - self.keep_seconds
        for path in self.folder.glob("impressions-*.jsonl*"):
            pid = path.name.split("-", 1)[1].split(".", 1)[0]
            if not pid.isdigit() or int(pid) == os.getpid() or pid_alive(int(pid)):
                continue
            try:
                stat = path.stat()
                if stat.st_size == 0 or stat.st_mtime < cutoff:
                    path.unlink()
            except FileNotFoundError:
                pass

    def _rotate(self):
        self.handle.close()
        for n in range(self.backups, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            newer = self.path.with_name(f"{self.path.name}.{n - 1}") if n > 1 else self.path
            if newer.exists():
                newer.replace(older) if self.backups else newer.unlink()
        self.handle = self.path.open("a", buffering=64 * 1024)
        self.size = 0

    def write(self, record: dict) -> None:
        line = orjson.dumps({"time": round(time.time(), 3), **record}).decode() + "\n"
        with self.lock:
            if self.pid != os.getpid() or self.handle is None:     # opened lazily in each worker, after fork
                self._open()
            self.handle.write(line)
            self.size += len(line)
            now = time.monotonic()
            if now - self.flushed >= self.flush_seconds:
                self.handle.flush()
                self.flushed = now
            if self.size >= self.max_bytes:
                self._rotate()

