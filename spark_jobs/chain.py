"""The nightly chain: its steps, their order, and how one step runs for one run date.

The Airflow DAG (dags/recs_nightly.py) makes one task per step and `recs run --date D` runs them
all in one Spark session; both call `run_step`, so both paths run the same job code.

Spark steps get a SparkSession; light steps (validate, publish, export) work on the local snapshot
folder only. Every step is idempotent for its run date: it overwrites that date's outputs.

This module imports no Spark at load time: the DAG file reads STEPS while Airflow parses it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
MODELS = ("popularity", "item_similarity", "fbt_pairs", "content", "als")


@dataclass(frozen=True)
class Step:
    name: str
    upstream: tuple[str, ...]
    spark: bool
    doc: str


STEPS: tuple[Step, ...] = (
    Step("ingest", (), True,
         "Validate the run date's raw events and the catalog as of that date; quarantine bad rows with a "
         "reason; write `curated/events|catalog/dt=D`. Also ingests earlier raw dates of the lookback window "
         "that have no curated partition yet (a first run, a gap). Fails when the quarantined share passes "
         "`ingest.max_bad_share`."),
    Step("interactions", ("ingest",), True,
         "Per (user, item) weights, decayed from the end of the run date over the lookback window."),
    Step("popularity", ("interactions",), True,
         "Popular and trending lists: overall, per category and per segment (country, device) for cold start."),
    Step("item_similarity", ("interactions",), True,
         "Item-item co-occurrence neighbours (shrunk cosine) for product pages."),
    Step("fbt_pairs", ("interactions",), True,
         "Frequently-bought-together pairs from orders (support, confidence, lift) for product and cart pages."),
    Step("content", ("item_similarity",), True,
         "Content neighbours from title, category, brand and price: new items get similar lists. "
         "Blends them with item_similarity's neighbours into the product page's similar_items, so it runs "
         "after that step."),
    Step("als", ("interactions",), True,
         "ALS factors and per-user ANN candidates (the lists served when ranking is skipped)."),
    Step("ranking", MODELS, True,
         "Candidates from every source -> features -> the XGBoost ranker -> re-ranking rules and reason codes: "
         "the final per-user lists. First the same pipeline, trained without the last `gate.holdout_days` "
         "days, is scored on them against the baselines and the previous run; the figures go into the report."),
    Step("quality_gate", ("ranking",), True,
         "Fails the run when the ranked lists fell below a baseline or more than the tolerance below the "
         "previous run (the ranking report's figures): the date's ranked lists are removed and nothing publishes."),
    Step("snapshot", ("quality_gate",), True,
         "Build the immutable RocksDB snapshot `<date>-<digest>` from the run's outputs, with the gate's "
         "figures in MANIFEST.json. The same date, config and inputs give the same name."),
    Step("validate", ("snapshot",), False,
         "Check every file's sha256, the column families, the counts and a sample of decoded values."),
    Step("publish", ("validate",), False,
         "Point CURRENT at the snapshot (atomic rename); the lookup servers hot-swap to it. A rebuild of a "
         "date older than the live snapshot's is kept but not made live."),
    Step("export", ("publish",), False,
         "Copy the snapshot to S3 (`s3.bucket`) or, without a bucket, to the local `s3.local_dir`; "
         "MANIFEST.json last."),
)
BY_NAME = {step.name: step for step in STEPS}


class ChainError(RuntimeError):
    """A step cannot run: unknown step, or an earlier step's output is missing."""


def built_marker(config, run_date: dt.date) -> Path:
    """Where the snapshot step records the name it built for run_date (read by the light steps)."""
    return Path(config.paths.snapshots) / ".built" / run_date.isoformat()


def record_built(config, run_date: dt.date, name: str) -> None:
    marker = built_marker(config, run_date)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(name + "\n")
    tmp.replace(marker)


def built_name(config, run_date: dt.date) -> str:
    marker = built_marker(config, run_date)
    if not marker.is_file():
        raise ChainError(f"no snapshot was built for {run_date} ({marker} is missing): run the snapshot step first")
    return marker.read_text().strip()


def ingest_dates(spark, config, run_date: dt.date) -> list[dt.date]:
    """run_date, plus the raw dates of the lookback window that were never ingested, oldest first."""
    from spark_jobs import lake

    first = run_date - dt.timedelta(days=config.interactions.lookback_days - 1)
    raw = lake.list_dates(spark, f"{config.paths.raw.rstrip('/')}/events")
    missing = [d for d in raw if first <= d < run_date
               and not lake.exists(spark, lake.report(config.paths.lake, "ingest", d))]
    return missing + [run_date]


def run_ingest(spark, config, run_date: dt.date) -> dict:
    from spark_jobs import ingest

    reports = [ingest.main(spark, config, date) for date in ingest_dates(spark, config, run_date)]
    report = dict(reports[-1])
    report["also_ingested"] = [r["run_date"] for r in reports[:-1]]
    return report


def run_snapshot(spark, config, run_date: dt.date) -> dict:
    from export import manifest
    from export.commands import build_snapshot
    from spark_jobs import lake

    gate = (lake.read_json(spark, lake.report(config.paths.lake, "ranking", run_date)) or {}).get("gate") or {}
    metrics = {"gate": gate.get("measured"), "holdout": gate.get("holdout")} if gate.get("measured") else None
    folder = build_snapshot(spark, config, run_date, metrics)
    record_built(config, run_date, folder.name)
    return {"job": "snapshot", "run_date": run_date.isoformat(), "name": folder.name,
            "counts": manifest.read(folder)["counts"]}


def run_validate(config, run_date: dt.date) -> dict:
    from export import store

    name = built_name(config, run_date)
    man = store.validate(Path(config.paths.snapshots) / name, config.snapshot.validate_sample)
    return {"job": "validate", "name": name, "counts": man["counts"]}


def run_publish(config, run_date: dt.date) -> dict:
    from export import store
    from export.commands import publish

    name, live = built_name(config, run_date), store.current(Path(config.paths.snapshots))
    if live and live != name and live[:10] > name[:10]:
        log.warning("kept %s live: %s is a rebuild of an older date (publish it by hand: "
                    "`recs snapshot publish %s`)", live, name, name)
        return {"job": "publish", "live": live, "built": name, "published": False}
    return {"job": "publish", "published": True, **publish(config, name)}


def run_export(config, run_date: dt.date) -> dict:
    from export import s3

    return {"job": "export", **s3.export(Path(config.paths.snapshots) / built_name(config, run_date), config.s3)}


SPARK_RUNNERS = {"ingest": run_ingest, "snapshot": run_snapshot}
LIGHT_RUNNERS = {"validate": run_validate, "publish": run_publish, "export": run_export}


def run_step(name: str, config, run_date: dt.date, spark=None) -> dict:
    """Run one step for run_date and return its report; Spark steps need `spark`."""
    step = BY_NAME.get(name)
    if step is None:
        raise ChainError(f"unknown step {name!r}; the steps are {', '.join(BY_NAME)}")
    if not step.spark:
        return LIGHT_RUNNERS[name](config, run_date)
    if spark is None:
        raise ChainError(f"step {name} needs a SparkSession")
    if name in SPARK_RUNNERS:
        return SPARK_RUNNERS[name](spark, config, run_date)
    return importlib.import_module(f"spark_jobs.{name}").main(spark, config, run_date)


def run_chain(spark, config, run_date: dt.date, echo=print) -> list[dict]:
    """Every step in order for run_date, in one Spark session; stops at the first failure."""
    import time

    reports = []
    for step in STEPS:
        began = time.perf_counter()
        report = run_step(step.name, config, run_date, spark)
        shown = {k: v for k, v in report.items()
                 if k not in ("job", "run_date", "input", "output", "importances", "gate", "max_bad_share")}
        echo(f"  {step.name:16s} {time.perf_counter() - began:6.1f} s  {json.dumps(shown, default=str)[:160]}")
        reports.append(report)
    return reports
