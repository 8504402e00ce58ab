"""The nightly chain: the function each step runs, and how one step runs for one run date.

The steps, their order and docs are spark_jobs/steps.py (Spark-free: the Airflow DAG reads it at
parse time); RUNNERS below binds each of those names to the function that does the work. The
Airflow DAG (dags/recs_nightly.py) makes one task per step and `recs run --date D` runs them all in
one Spark session; both call `run_step`, so both paths run the same job code.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from export import log_shipping, s3, store
from spark_jobs import (
    als,
    content,
    experiment_report,
    fbt_pairs,
    ingest,
    interactions,
    item_similarity,
    lake,
    popularity,
    quality_gate,
    ranking,
    snapshot,
)
from spark_jobs.steps import BY_NAME, STEPS, ChainError

log = logging.getLogger(__name__)


def built_name(config, run_date: dt.date) -> str:
    """The snapshot the snapshot step built for run_date (recorded by spark_jobs/snapshot.py)."""
    marker = snapshot.built_marker(config, run_date)
    if not marker.is_file():
        raise ChainError(f"no snapshot was built for {run_date} ({marker} is missing): run the snapshot step first")
    return marker.read_text().strip()


def ingest_dates(spark, config, run_date: dt.date) -> list[dt.date]:
    """run_date, plus the raw dates of the lookback window that were never ingested, oldest first."""
    first = run_date - dt.timedelta(days=config.interactions.lookback_days - 1)
    raw = lake.list_dates(spark, f"{config.paths.raw.rstrip('/')}/events")
    missing = [d for d in raw if first <= d < run_date
               and not lake.exists(spark, lake.report(config.paths.lake, "ingest", d))]
    return missing + [run_date]


def raw_events(config, run_date: dt.date) -> tuple[str, bool | None]:
    """(the run date's raw events folder, whether it exists; None where the scheme is not checked here)."""
    path = lake.partition(config.paths.raw, "events", run_date)
    if "://" not in path or path.startswith("file://"):
        return path, Path(path.removeprefix("file://")).is_dir()
    if path.startswith(("s3a://", "s3://")):
        from pyarrow import fs  # only on this path: the light task needs no S3 client otherwise

        try:
            bucket_path = path.split("://", 1)[1]
            info = fs.S3FileSystem().get_file_info(bucket_path)
            return path, info.type != fs.FileType.NotFound
        except OSError:
            return path, None
    return path, None


def run_has_input(spark, config, run_date: dt.date) -> dict:
    path, found = raw_events(config, run_date)
    report = {"job": "has_input", "run_date": run_date.isoformat(), "raw_events": path, "found": found}
    if found is False:
        report["why"] = (f"no raw events for {run_date} under {path}: nothing to run for this date (its data has "
                         "not landed); trigger a date that has data")
    return report


def run_ingest(spark, config, run_date: dt.date) -> dict:
    reports = ingest.main_dates(spark, config, ingest_dates(spark, config, run_date))
    report = dict(reports[-1])
    report["also_ingested"] = [r["run_date"] for r in reports[:-1]]
    return report


def run_validate(spark, config, run_date: dt.date) -> dict:
    name = built_name(config, run_date)
    man = store.validate(Path(config.paths.snapshots) / name, config.snapshot.validate_sample)
    return {"job": "validate", "name": name, "counts": man["counts"]}


def run_publish(spark, config, run_date: dt.date) -> dict:
    root = Path(config.paths.snapshots)
    name, live = built_name(config, run_date), store.current(root)
    if live and live != name and live[:10] > name[:10]:
        log.warning("kept %s live: %s is a rebuild of an older date (publish it by hand: "
                    "`recs snapshot publish %s`)", live, name, name)
        return {"job": "publish", "live": live, "built": name, "published": False}
    published = store.publish(root, name, config.snapshot.keep, config.snapshot.validate_sample)
    return {"job": "publish", "published": True, **published}


def run_export(spark, config, run_date: dt.date) -> dict:
    return {"job": "export", **s3.export(Path(config.paths.snapshots) / built_name(config, run_date), config.s3)}


def run_ship_logs(spark, config, run_date: dt.date) -> dict:
    if not config.experiment_report.enabled:
        return {"job": "ship_logs", "skipped": "experiment_report.enabled is false"}
    shipped = log_shipping.ship(config.experiment_report.logs_dir, config.paths.logs_raw, config.s3)
    return {"job": "ship_logs", **shipped}


Runner = Callable[..., dict]     # (spark or None, config, run_date) -> the step's report
RUNNERS: dict[str, Runner] = {
    "has_input": run_has_input,
    "ingest": run_ingest,
    "interactions": interactions.main,
    "popularity": popularity.main,
    "item_similarity": item_similarity.main,
    "fbt_pairs": fbt_pairs.main,
    "content": content.main,
    "als": als.main,
    "ranking": ranking.main,
    "quality_gate": quality_gate.main,
    "snapshot": snapshot.main,
    "validate": run_validate,
    "publish": run_publish,
    "export": run_export,
    "ship_logs": run_ship_logs,
    "experiment_report": experiment_report.main,
}
if set(RUNNERS) != set(BY_NAME):
    raise ChainError(f"spark_jobs/chain.py RUNNERS {sorted(RUNNERS)} do not match the steps {sorted(BY_NAME)}")


def run_step(name: str, config, run_date: dt.date, spark=None) -> dict:
    """Run one step for run_date and return its report; Spark steps need `spark`."""
    step = BY_NAME.get(name)
    if step is None:
        raise ChainError(f"unknown step {name!r}; the steps are {', '.join(BY_NAME)}")
    if step.spark and spark is None:
        raise ChainError(f"step {name} needs a SparkSession")
    return RUNNERS[name](spark, config, run_date)


def run_chain(spark, config, run_date: dt.date, echo=print) -> list[dict]:
    """Every step in order for run_date, in one Spark session; stops at the first failure."""
    reports = []
    for step in STEPS:
        began = time.perf_counter()
        report = run_step(step.name, config, run_date, spark)
        if report.get("found") is False:
            raise ChainError(report["why"])
        shown = {k: v for k, v in report.items()
                 if k not in ("job", "run_date", "input", "output", "importances", "gate", "max_bad_share")}
        echo(f"  {step.name:16s} {time.perf_counter() - began:6.1f} s  {json.dumps(shown, default=str)[:160]}")
        reports.append(report)
    return reports
