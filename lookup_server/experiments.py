"""Home-page A/B tests: stable assignment, and the JSON-lines logs of what was shown and what came of it.

A user's variant is the bucket of sha256("<experiment>:<user_id>") among 10,000, cut by
the variants' shares in their configured order: the same on every worker, host and
restart (Python's hash() is salted per process, so it is never used).

Each answer is logged as one JSON line (request id, time, endpoint, user, experiment, variant,
source, items) to {serve.impressions_dir}/impressions-<pid>.jsonl, and each outcome posted to
/v1/feedback to feedback-<pid>.jsonl beside it: one file per worker, because appends are not
safe across processes. A file is closed (moved to closed/, named by host, pid and time, never
written again) when it reaches its size limit, when the UTC day changes, when its worker exits,
or, for a worker that was killed, when the next worker starts. The nightly ship step
(export/log_shipping.py) copies closed files into the lake and moves them to shipped/; shipped
files older than keep_days are removed. Nothing unshipped is ever removed.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import socket
import threading
import time
from pathlib import Path

import orjson

from export.format import pid_alive

BUCKETS = 10_000
DEFAULT = "default"
HOST = "".join(c if c.isalnum() or c in "._" else "_" for c in socket.gethostname())[:40] or "host"


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


class JsonLinesLog:
    """Append-only JSON lines of one kind ("impressions", "feedback") per worker process.

    Lines go through a 64 KB buffer that is flushed at least every second (and at exit), so logging
    costs a string join, not a system call, per request; a lock keeps the lines of a worker's threads
    whole.
    """

    def __init__(self, folder: str, kind: str, max_mb: int, flush_seconds: float = 1.0, keep_days: float = 7.0):
        self.folder, self.kind, self.max_bytes = Path(folder), kind, max_mb * 1024 * 1024
        self.flush_seconds, self.keep_seconds = flush_seconds, keep_days * 86400
        self.pid, self.handle, self.path, self.size, self.flushed, self.day = None, None, None, 0, 0.0, None
        self.lock = threading.Lock()

    def _open(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        self.tidy()
        self.path = self.folder / f"{self.kind}-{os.getpid()}.jsonl"
        if self.path.exists():                  # a reused pid: the file of the worker that had it is closed first
            close_file(self.path, self.kind)
        self.handle = self.path.open("a", buffering=64 * 1024)
        self.size, self.pid, self.day = 0, os.getpid(), time.gmtime().tm_yday
        atexit.register(self.close)

    def close(self) -> None:
        """Flush and close this worker's log and move it to closed/ (an empty one is removed)."""
        with self.lock:
            if self.handle is None or self.pid != os.getpid():
                return
            self.handle.close()
            self.handle = None
            close_file(self.path, self.kind)

    def tidy(self) -> None:
        """Close the logs of exited workers (remove them when empty) and remove shipped logs older than keep_days."""
        for path in self.folder.glob(f"{self.kind}-*.jsonl"):
            pid = path.name[len(self.kind) + 1:].split(".", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                close_file(path, self.kind)
        cutoff = time.time() - self.keep_seconds
        for path in (self.folder / "shipped").glob(f"{self.kind}-*.jsonl"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except FileNotFoundError:
                pass

    def _rotate(self):
        self.handle.close()
        close_file(self.path, self.kind)
        self.handle = self.path.open("a", buffering=64 * 1024)
        self.size, self.day = 0, time.gmtime().tm_yday

    def write(self, record: dict) -> None:
        now_s = time.time()
        line = orjson.dumps({"time": round(now_s, 3), **record}).decode() + "\n"
        with self.lock:
            if self.pid != os.getpid() or self.handle is None:     # opened lazily in each worker, after fork
                self._open()
            elif time.gmtime(now_s).tm_yday != self.day:          # a new UTC day: yesterday's lines can ship
                self._rotate()
            self.handle.write(line)
            self.size += len(line)
            now = time.monotonic()
            if now - self.flushed >= self.flush_seconds:
                self.handle.flush()
                self.flushed = now
            if self.size >= self.max_bytes:
                self._rotate()


def close_file(path: Path, kind: str) -> Path | None:
    """Move a finished log to closed/<kind>-<host>-<pid>-<microseconds>.jsonl (unique per host); an empty one is
    removed. Returns the new path (None when removed or gone)."""
    try:
        if path.stat().st_size == 0:
            path.unlink()
            return None
        pid = path.name[len(kind) + 1:].split(".", 1)[0]
        target = path.parent / "closed" / f"{kind}-{HOST}-{pid}-{time.time_ns() // 1000}.jsonl"
        target.parent.mkdir(exist_ok=True)
        path.replace(target)
        return target
    except FileNotFoundError:
        return None
