"""Ranked per-user lists for one run date: candidates -> XGBoost ranker -> business rules, behind a quality gate.

For run date D (spark_jobs/offline/ranked.py does the work):
1. gate (gate.enabled): a ranker trained without the last gate.holdout_days days (doubled while
   the holdout holds too few users or purchases) makes lists at the holdout's first day; they,
   every candidate source's own lists through the same re-ranking rules, and the gate's baselines
   are scored on the holdout (spark_jobs/offline/gate.py). The gate publishes the ranked lists when
   they reach the best source, else that source's lists (report "published"); a run never publishes
   lists that lose to a source it had. Lists below a baseline or the previous run fail: the report
   says passed: false, any earlier ranked output of D is removed, the quality_gate step
   (spark_jobs/quality_gate.py) fails the run, and the snapshot build refuses the date. With too
   little signal to decide, the run serves the ALS lists and says why.
2. when the ranked lists won: the gate's ranker ranks the final lists, so the model the gate measured
   is the one served (no second ranker is fitted with the newest label window: on complete Online
   Retail that refit cost 90-106 s for 0.0016 of served NDCG@20, README); saved with its feature
   list, parameters, importances and config digest. Without the gate a ranker is trained on the
   windows up to D;
3. every user's final list (ranking.list_length) as of the end of D, with reason codes: the
   ranker's, or the winning source's in its own order (only that source is fitted), through
   the same rules. item_knn and fbt are not fitted again there: D's item_similarity and
   fbt_pairs steps wrote the same tables (candidates.nightly_models).
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
from models.ranker import Ranker, RankerError, to_json
from spark_jobs import lake
from spark_jobs.interactions import read_events
from spark_jobs.offline import candidates, gate, ranked
from spark_jobs.offline.split import EvaluationError, as_of, temporal_split

log = logging.getLogger(__name__)
JOB = "ranking"


def previous_figures(spark: SparkSession, config: Config, run_date: dt.date) -> dict | None:
    """The published lists' gate figures of the latest earlier run that passed, if any."""
    root = f"{config.paths.lake.rstrip('/')}/reports/{JOB}"
    for date in reversed([d for d in lake.list_dates(spark, root) if d < run_date]):
        report = lake.read_json(spark, lake.report(config.paths.lake, JOB, date)) or {}
        gate_report = report.get("gate") or {}
        if gate_report.get("passed") and gate_report.get("measured"):
            figures = gate_report.get("published_figures") or gate_report["measured"]["ranked"]
            return {**figures, "run_date": date.isoformat()}
    return None


def holdout(events, catalog, config: Config, run_date: dt.date, discovery: bool):
    """(split, signal, days): the gate's holdout, doubled from gate.holdout_days up to gate.max_holdout_days
    while it holds fewer users or relevant items than gate.min_users / gate.min_positives (too few to decide),
    or fewer users than gate.widen_below_users (enough to decide, but a wider holdout decides better)."""
    days = config.gate.holdout_days
    split = temporal_split(events, catalog, config, run_date - dt.timedelta(days=days - 1), run_date)
    found = gate.signal(split, discovery)

    def thin(signal: dict) -> bool:
        return not gate.enough(signal, config.gate) or signal["users"] < config.gate.widen_below_users

    while thin(found) and days * 2 <= config.gate.max_holdout_days:
        try:
            wider = temporal_split(events, catalog, config, run_date - dt.timedelta(days=2 * days - 1), run_date)
        except EvaluationError:      # no history left before a wider holdout
            break
        log.info("gate %s: %s on a %d-day holdout; widening to %d days", run_date, found, days, 2 * days)
        days, split, found = 2 * days, wider, gate.signal(wider, discovery)
    return split, found, days


def run_gate(spark: SparkSession, config: Config, events, catalog, run_date: dt.date,
             discovery: bool) -> tuple[Ranker, dict]:
    """Train without the holdout; score the ranked lists and every source's own lists on it; choose.

    Returns the gate's ranker (what ranks the published lists when they win) and the verdict.
    """
    split, found, days = holdout(events, catalog, config, run_date, discovery)
    start = split.cutoff
    model = ranked.train(spark, split.train_events, catalog, config, start, discovery)
    frame = ranked.candidate_frame(spark, split, split.users, config, discovery)
    lists = {gate.RANKED: ranked.final_lists(spark, split, split.users, config, model, config.rerank, discovery,
                                             config.gate.k, frame=frame).cache()}
    for source in config.ranking.sources:
        lists[source] = ranked.source_lists(spark, split, frame, source, config, config.rerank, config.gate.k).cache()
    measured, by_source = gate.measure(spark, split, lists, config, discovery)
    previous = previous_figures(spark, config, run_date)
    verdict = gate.choose(measured, by_source, previous, config.gate, found)
    for rows in lists.values():
        rows.unpersist()
    published = verdict["published"]
    figures = None if published is None else (measured if published == gate.RANKED else by_source)[published]
    log.info("gate %s: %s", run_date, verdict["why"])
    return model, {**verdict, "holdout": [start.isoformat(), run_date.isoformat()], "holdout_days": days,
            "signal": found, "k": config.gate.k, "measured": measured, "sources": by_source,
            "published_figures": figures, "previous": previous, "training": model.training}


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
    """Gate, then write the lists of `run_date` that the gate chose: the ranked lists or the best source's."""
    end = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    events = read_events(spark, config, run_date).filter(F.col("event_time") < F.lit(end)).cache()
    catalog = spark.read.parquet(lake.curated(config.paths.lake, "catalog", run_date))
    discovery = ranked.is_discovery(config.rerank)
    out = {"ranked": lake.curated(config.paths.lake, "ranked", run_date),
           "ranker": lake.curated(config.paths.lake, "ranker", run_date) + "/ranker.json"}
    report = {"job": JOB, "run_date": run_date.isoformat(), "output": out, "discovery": discovery,
              "gate": {"passed": True, "skipped": True}, "published": gate.RANKED}
    cutoff = run_date + dt.timedelta(days=1)
    model, gate_model = None, None
    try:
        if config.gate.enabled:
            gate_model, report["gate"] = run_gate(spark, config, events, catalog, run_date, discovery)
            release(spark, events)
            verdict = report["gate"]
            if verdict["inconclusive"]:
                raise EvaluationError(f"the quality gate cannot decide: {verdict['why']}")
            if not verdict["passed"]:
                log.error("ranking %s: the quality gate failed (%s); no lists are written and the quality_gate "
                          "step will stop the run", run_date, "; ".join(verdict["failures"]))
                withdraw(spark, config, run_date, report)
                spark.catalog.clearCache()
                return report
            report["published"] = verdict["published"]
        if report["published"] == gate.RANKED and gate_model is not None:
            model = gate_model                  # the ranker the gate measured is the one that ranks the lists
        elif report["published"] == gate.RANKED:
            model = ranked.train(spark, events, catalog, config, cutoff, discovery)
    except (EvaluationError, RankerError) as err:      # too little history or signal: the snapshot uses ALS lists
        log.warning("ranking %s skipped: %s", run_date, err)
        report = {"job": JOB, "run_date": run_date.isoformat(), "output": {}, "skipped": str(err),
                  **({"gate": report["gate"]} if report["gate"].get("inconclusive") else {})}
        withdraw(spark, config, run_date, report)
        spark.catalog.clearCache()
        return report
    view = as_of(events, catalog, config, cutoff)
    nightly = candidates.nightly_models(spark, config, run_date)     # this run's item_similarity / fbt_pairs
    if model is not None:
        lake.write_json(spark, out["ranker"], to_json(model))
        lists = ranked.final_lists(spark, view, view.users, config, model, config.rerank, discovery,
                                    config.ranking.list_length, candidates.fit(spark, view, config, known=nightly))
        report.update(importances=model.importances, training=model.training)
    else:
        log.warning("ranking %s: publishing %s's lists (%s)", run_date, report["published"], report["gate"]["why"])
        lake.delete(spark, out["ranker"])
        fitted = candidates.fit(spark, view, config, [report["published"]], nightly)
        frame = ranked.candidate_frame(spark, view, view.users, config, discovery, fitted)
        lists = ranked.source_lists(spark, view, frame, report["published"], config, config.rerank,
                                    config.ranking.list_length)
    lake.write_partition(lists, out["ranked"], config.ranking.output_files, ["user_id", "rank"])
    counts = spark.read.parquet(out["ranked"]).agg(
        F.countDistinct("user_id").alias("users"), F.count(F.lit(1)).alias("entries")).first().asDict()
    report.update(counts)
    lake.write_json(spark, lake.report(config.paths.lake, JOB, run_date), report)
    log.info("ranking %s: published %s %s", run_date, report["published"], counts)
    spark.catalog.clearCache()
    return report
