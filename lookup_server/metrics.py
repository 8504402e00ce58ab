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
recs_impressions_total{endpoint, experiment, variant}  answers logged as impressions (experiment "none" outside one)
recs_feedback_total{experiment, variant, type}     outcomes posted to /v1/feedback (click, add_to_cart, purchase)
recs_snapshot_quality{metric}                      the live snapshot's figures from the nightly gate (coverage,
                                                   diversity, previous_diversity, ndcg, ...): see monitoring/
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
IMPRESSIONS = Counter("recs_impressions_total", "Answers logged as impressions", ["endpoint", "experiment", "variant"])
FEEDBACK = Counter("recs_feedback_total", "Outcomes of shown items posted to /v1/feedback",
                   ["experiment", "variant", "type"])
SNAPSHOT_QUALITY = Gauge("recs_snapshot_quality", "Figures of the live snapshot's lists from the nightly gate",
                         ["metric"], multiprocess_mode="livemax")


def count_impression(endpoint: str | None, experiment: str | None, variant: str) -> None:
    IMPRESSIONS.labels(endpoint or "unknown", experiment or "none", variant).inc()


def count_feedback(experiment: str | None, variant: str, kind: str) -> None:
    FEEDBACK.labels(experiment or "none", variant, kind).inc()


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
        for metric, value in quality_figures(snapshot.manifest).items():
            SNAPSHOT_QUALITY.labels(metric).set(value)


def quality_figures(manifest: dict) -> dict[str, float]:
    """The gauges of recs_snapshot_quality from a manifest: every list's coverage and diversity at K (and the
    previous snapshot's, as previous_*), and the gate's figures on its holdout as gate_*."""
    found = (manifest.get("metrics") or {})
    lists = found.get("lists") or {}
    out = {key: lists[key] for key in ("coverage", "diversity") if isinstance(lists.get(key), int | float)}
    out.update({f"previous_{key}": value for key, value in (lists.get("previous") or {}).items()
                if isinstance(value, int | float)})
    out.update({f"gate_{key}": value for key, value in (found.get("gate") or {}).items()
                if key in ("ndcg", "recall", "coverage", "diversity") and isinstance(value, int | float)})
    return {key: float(value) for key, value in out.items()}


def exposition() -> tuple[bytes, str]:
    """The text exposition of every worker's metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
