"""Ranked per-user lists for one run date: candidates -> XGBoost ranker -> business rules, behind a quality gate.

For run date D (spark_jobs/offline/ranked.py does the work):
1. gate (gate.enabled): a ranker trained without the last gate.holdout_days days makes lists at
   the holdout's first day; they are scored on the holdout against the gate's baselines and
   the previous run's figures (spark_jobs/offline/gate.py). A failure writes the report (passed: false) and
   removes any earlier ranked output of D; the quality_gate step (spark_jobs/quality_gate.py) then
   fails the run, and the snapshot build refuses the date: nothing downstream publishes.
2. the production ranker: trained on the ranking.label_days up to D, saved with its feature
   list, parameters, importances and config digest;
3. every user's final list (ranking.list_length) as of the end of D, with reason codes.
With too little history for a holdout or a label window (a new shop), the job writes a report
saying why it skipped and no lists: the snapshot then serves the ALS lists (spark_jobs/snapshot.py).

Reads  {lake}/curated/events/dt=<lookback..D>/, {lake}/curated/catalog/dt=D/
Writes {lake}/curated/ranked/dt=D/ (user_id, item_id, score, rank, reason),
       {lake}/curated/ranker/dt=D/ranker.json (the model, base64, and its metadata),
       {lake}/reports/ranking/dt=D/report.json (gate figures, importances, counts)
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from conf import Config
from models.ranker import RankerError, to_json
from spark_jobs import lake
from spark_jobs.interactions import read_events
from spark_jobs.offline import gate, ranked
from spark_jobs.offline.split import EvaluationError, as_of, temporal_split

log = logging.getLogger(__name__)
JOB = "ranking"


def previous_figures(spark: SparkSession, config: Config, run_date: dt.date) -> dict | None:
    """The ranked lists' gate figures of the latest earlier run that passed, if any."""
    root = f"{config.paths.lake.rstrip('/')}/reports/{JOB}"
    for date in reversed([d for d in lake.list_dates(spark, root) if d < run_date]):
        report = lake.read_json(spark, lake.report(config.paths.lake, JOB, date)) or {}
        if report.get("gate", {}).get("passed"):
            return {**report["gate"]["measured"]["ranked"], "run_date": date.isoformat()}
    return None


def run_gate(spark: SparkSession, config: Config, events, catalog, run_date: dt.date, discovery: bool) -> dict:
    """Train without the holdout, score the holdout, compare; the gate section of the report."""
    start = run_date - dt.timedelta(days=config.gate.holdout_days - 1)
    split = temporal_split(events, catalog, config, start, run_date)
    model = ranked.train(spark, split.train_events, catalog, config, start, discovery)
    lists = ranked.final_lists(spark, split, split.users, config, model, config.rerank, discovery,
                                config.gate.k).cache()
    measured = gate.measure(spark, split, lists, config, discovery)
    previous = previous_figures(spark, config, run_date)
    failures = gate.check(measured, previous, config.gate)
    lists.unpersist()
    return {"passed": not failures, "failures": failures, "holdout": [start.isoformat(), run_date.isoformat()],
            "k": config.gate.k, "measured": measured, "previous": previous}


def release(spark: SparkSession, events) -> None:
    """Drop the cached splits and models of a finished stage (the gate), keeping the run's events.

    Each stage caches its windows' events, interactions and fitted sources; held together in one
    local session they leave too little execution memory for the next stage's sorts.
    """
    spark.catalog.clearCache()
    events.cache()


def withdraw(spark: SparkSession, config: Config, run_date: dt.date, report: dict) -> None:
    """No lists for `run_date`: remove any earlier ranked output of it and write the report saying why."""
    lake.delete(spark, lake.curated(config.paths.lake, "ranked", run_date))
    lake.write_json(spark, lake.report(config.paths.lake, JOB, run_date), report)


def main(spark: SparkSession, config: Config, run_date: dt.date) -> dict:
    """Gate, train, rank and write the lists of `run_date`."""
    end = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    events = read_events(spark, config, run_date).filter(F.col("event_time") < F.lit(end)).cache()
    catalog = spark.read.parquet(lake.curated(config.paths.lake, "catalog", run_date))
    discovery = ranked.is_discovery(config.rerank)
    out = {"ranked": lake.curated(config.paths.lake, "ranked", run_date),
           "ranker": lake.curated(config.paths.lake, "ranker", run_date) + "/ranker.json"}
    report = {"job": JOB, "run_date": run_date.isoformat(), "output": out, "discovery": discovery,
              "gate": {"passed": True, "skipped": True}}
    try:
        if config.gate.enabled:
            report["gate"] = run_gate(spark, config, events, catalog, run_date, discovery)
            release(spark, events)
            if not report["gate"]["passed"]:
                log.error("ranking %s: the quality gate failed (%s); no lists are written and the quality_gate "
                          "step will stop the run", run_date, "; ".join(report["gate"]["failures"]))
                withdraw(spark, config, run_date, report)
                spark.catalog.clearCache()
                return report
        cutoff = run_date + dt.timedelta(days=1)
        model = ranked.train(spark, events, catalog, config, cutoff, discovery)
    except (EvaluationError, RankerError) as err:      # too little history yet: the snapshot uses ALS lists
        log.warning("ranking %s skipped: %s", run_date, err)
        report = {"job": JOB, "run_date": run_date.isoformat(), "output": {}, "skipped": str(err)}
        withdraw(spark, config, run_date, report)
        spark.catalog.clearCache()
        return report
    lake.write_json(spark, out["ranker"], to_json(model))
    view = as_of(events, catalog, config, cutoff)
    lists = ranked.final_lists(spark, view, view.users, config, model, config.rerank, discovery,
                                config.ranking.list_length)
    lake.write_partition(lists, out["ranked"], config.ranking.output_files, ["user_id", "rank"])
    counts = spark.read.parquet(out["ranked"]).agg(
        F.countDistinct("user_id").alias("users"), F.count(F.lit(1)).alias("entries")).first().asDict()
    report.update(counts, importances=model.importances, training=model.training)
    lake.write_json(spark, lake.report(config.paths.lake, JOB, run_date), report)
    log.info("ranking %s: %s", run_date, counts)
    spark.catalog.clearCache()
    return report

