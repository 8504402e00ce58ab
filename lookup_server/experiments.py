"""Home-page A/B tests: stable assignment and impression logs.

A user's variant is the bucket of sha256("<experiment>:<user_id>") among 10,000, cut by
the variants' shares in their configured order: the same on every worker, host and
restart (Python's hash() is salted per process, so it is never used). Each answer is
logged as one JSON line (request id, time, endpoint, user, experiment, variant, source,
items) to {serve.impressions_dir}/impressions-<pid>.jsonl, rotated by size; one file per
worker because rotation is not safe across processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

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
    """Append-only JSON lines of what was shown, per worker process."""

    def __init__(self, folder: str, max_mb: int, backups: int):
        self.folder, self.max_bytes, self.backups = Path(folder), max_mb * 1024 * 1024, backups
        self.pid, self.logger = None, None

    def _open(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        self.logger = logging.Logger(f"recs.impressions.{os.getpid()}")
        handler = RotatingFileHandler(self.folder / f"impressions-{os.getpid()}.jsonl", maxBytes=self.max_bytes,
                                      backupCount=self.backups)
        handler.setFormatter(logging.Formatter("%(message)s"))
        self.logger.addHandler(handler)
        self.pid = os.getpid()

    def write(self, record: dict) -> None:
        if self.pid != os.getpid():          # opened lazily in each worker, after fork
            self._open()
        self.logger.info(json.dumps({"time": round(time.time(), 3), **record}, separators=(",", ":")))
