"""Prometheus metrics of the lookup server, summed over gunicorn workers (multiprocess mode).

gunicorn_conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh folder before the workers
fork and marks dead workers; /metrics aggregates every worker's files. Without that
variable (e.g. Flask's test client) the process's own registry is used.

recs_requests_total{endpoint, variant, source, status}
recs_request_seconds{endpoint}                     (histogram)
recs_fallbacks_total{endpoint, source}             answers that were not personalised or item-based
recs_snapshot_age_seconds                          now - the live snapshot's created_at (max over workers)
recs_snapshot_info{snapshot, run_date}             1 for the snapshot a worker serves
recs_snapshot_fallback                             1 while a worker serves another snapshot than CURRENT names
recs_snapshot_fallbacks_total                      times a worker fell back to an earlier snapshot
recs_session_store_errors_total{operation}         session store calls that failed (answers served without it)
"""

from __future__ import annotations

import datetime as dt
import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

DIRECT_SOURCES = {"personalized", "similar", "bought_together", "because_you_viewed", None}

REQUESTS = Counter("recs_requests_total", "Answered requests", ["endpoint", "variant", "source", "status"])
LATENCY = Histogram("recs_request_seconds", "Time to answer", ["endpoint"],
                    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0))
FALLBACKS = Counter("recs_fallbacks_total", "Answers served from a fallback list", ["endpoint", "source"])
SNAPSHOT_AGE = Gauge("recs_snapshot_age_seconds", "Age of the live snapshot", multiprocess_mode="max")
SNAPSHOT_INFO = Gauge("recs_snapshot_info", "The snapshot a worker serves", ["snapshot", "run_date"],
                      multiprocess_mode="max")
SNAPSHOT_FALLBACK = Gauge("recs_snapshot_fallback", "1 while a worker serves another snapshot than CURRENT names",
                          multiprocess_mode="max")
SNAPSHOT_FALLBACKS = Counter("recs_snapshot_fallbacks_total", "Times a worker served an earlier snapshot because "
                             "the live one could not be opened")
SESSION_ERRORS = Counter("recs_session_store_errors_total", "Session store calls that failed", ["operation"])


def count_snapshot_fallback() -> None:
    SNAPSHOT_FALLBACKS.inc()


def count_session_error(operation: str) -> None:
    SESSION_ERRORS.labels(operation).inc()


def observe(endpoint: str | None, variant: str, source: str | None, status: int, seconds: float) -> None:
    endpoint = endpoint or "unknown"
    REQUESTS.labels(endpoint, variant, source or "none", str(status)).inc()
    LATENCY.labels(endpoint).observe(seconds)
    if status == 200 and source not in DIRECT_SOURCES:
        FALLBACKS.labels(endpoint, source).inc()


_shown: dict[str, object] = {}
_age_set_at = [0.0]


def observe_snapshot(snapshot, fallback: bool = False) -> None:
    """Age (at most once a second) and identity of the snapshot this worker serves; the previous one's info
    drops to 0."""
    if snapshot is None:
        return
    if _shown.get("fallback") != fallback:       # a gauge write touches the multiprocess file: only on change
        SNAPSHOT_FALLBACK.set(1 if fallback else 0)
        _shown["fallback"] = fallback
    now = time.time()
    if now - _age_set_at[0] >= 1.0:
        created = dt.datetime.fromisoformat(snapshot.manifest["created_at"]).timestamp()
        SNAPSHOT_AGE.set(now - created)
        _age_set_at[0] = now
    labels = (snapshot.name, snapshot.manifest["run_date"])
    previous = _shown.get("live")
    if previous != labels:
        if previous:
            SNAPSHOT_INFO.labels(*previous).set(0)
        SNAPSHOT_INFO.labels(*labels).set(1)
        _shown["live"] = labels


def exposition() -> tuple[bytes, str]:
    """The text exposition of every worker's metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
