"""Popular, recent and trending items, overall and per category, as of the end of one run date.

- all_time: weighted event count over the interactions lookback window
- recent:   the same over the last popularity.recent_days
- trending: rate over the last trend_days against the rate over the trend_baseline_days
            before them, (recent + prior) / (baseline scaled to the same length + prior)
Weights are the interactions' event-type weights (a purchase counts more than a view).
Lists: scope "all" and one per category prefix of popularity.category_depth levels; for cold
start, a recent list per value of each popularity.segments event column (scope "country:GB").

Reads  {lake}/curated/events/dt=<lookback..D>/, {lake}/curated/catalog/dt=D/
Writes {lake}/curated/popularity/dt=D/  (list, scope, item_id, score, rank)
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from conf import Config
from conf.schema import PopularityConfig
from models.topn import top_n
from spark_jobs import lake
from spark_jobs.interactions import read_events

log = logging.getLogger(__name__)
ALL = "all"


def midnight_after(day: dt.date, days_before: int = 0) -> dt.datetime:
    """Midnight UTC at the end of `day`, moved `days_before` days earlier."""
    return dt.datetime.combine(day + dt.timedelta(days=1 - days_before), dt.time())


def event_weight(weights: dict[str, float]) -> Column:
    """The configured weight of each row's event_type."""
    return F.create_map(*[x for k, v in sorted(weights.items()) for x in (F.lit(k), F.lit(v))])[F.col("event_type")]


def item_scores(events: DataFrame, start: dt.datetime | None, end: dt.datetime, weights: dict[str, float]) -> DataFrame:
    """item_id, score: the weighted event count in [start, end), only items with a positive score."""
    window = events.filter(F.col("event_time") < F.lit(end))
    if start is not None:
        window = window.filter(F.col("event_time") >= F.lit(start))
    return (window.groupBy("item_id").agg(F.sum(event_weight(weights)).alias("score"))
            .filter(F.col("score") > 0))


def trending_scores(events: DataFrame, run_date: dt.date, settings: PopularityConfig,
                    weights: dict[str, float]) -> DataFrame:
    """item_id, score: smoothed ratio of the recent rate to the baseline rate (> 1 means rising)."""
    end = midnight_after(run_date)
    split = midnight_after(run_date, settings.trend_days)
    begin = midnight_after(run_date, settings.trend_days + settings.trend_baseline_days)
    recent = item_scores(events, split, end, weights).withColumnRenamed("score", "_recent")
    base = item_scores(events, begin, split, weights).withColumnRenamed("score", "_base")
    scale = settings.trend_days / settings.trend_baseline_days
    prior = settings.trend_prior
    return (recent.join(base, "item_id", "left").fillna(0.0, ["_base"])
            .select("item_id", ((F.col("_recent") + prior) / (F.col("_base") * scale + prior)).alias("score")))


def category_prefix(depth: int) -> Column:
    """The first `depth` levels of the catalog category path ("Home > Kitchen")."""
    parts = F.slice(F.split(F.col("category"), r"\s*>\s*"), 1, depth)
    return F.array_join(parts, " > ")


def segment_lists(events: DataFrame, start: dt.datetime, end: dt.datetime, segments: list[str],
                  weights: dict[str, float]) -> DataFrame:
    """list "recent", scope "<column>:<value>", item_id, score: recent popularity within each segment."""
    window = events.filter((F.col("event_time") >= F.lit(start)) & (F.col("event_time") < F.lit(end)))
    parts = []
    for column in segments:
        value = F.trim(F.col(column))
        parts.append(window.filter(value.isNotNull() & (value != ""))
                     .groupBy(F.concat(F.lit(f"{column}:"), value).alias("scope"), "item_id")
                     .agg(F.sum(event_weight(weights)).alias("score")).filter(F.col("score") > 0))
    empty = events.sparkSession.createDataFrame([], "scope string, item_id string, score double")
    return reduce(DataFrame.unionByName, parts, empty).select(F.lit("recent").alias("list"), "scope", "item_id",
                                                              "score")


def transform(events: DataFrame, catalog: DataFrame, run_date: dt.date, settings: PopularityConfig,
              weights: dict[str, float], lookback_days: int) -> DataFrame:
    """list, scope, item_id, score, rank: top popularity.top_n per (list, scope)."""
    end = midnight_after(run_date)
    scores = {
        "all_time": item_scores(events, midnight_after(run_date, lookback_days), end, weights),
        "recent": item_scores(events, midnight_after(run_date, settings.recent_days), end, weights),
        "trending": trending_scores(events, run_date, settings, weights),
    }
    scopes = catalog.select("item_id", category_prefix(settings.category_depth).alias("_category"))
    lists = []
    for name, frame in scores.items():
        with_scope = frame.join(scopes, "item_id", "left").fillna("", ["_category"])
        overall = with_scope.select(F.lit(name).alias("list"), F.lit(ALL).alias("scope"), "item_id", "score")
        per_category = with_scope.filter(F.col("_category") != "").select(
            F.lit(name).alias("list"), F.col("_category").alias("scope"), "item_id", "score")
        lists.append(overall.unionByName(per_category))
    every = lists[0].unionByName(lists[1]).unionByName(lists[2]).unionByName(
        segment_lists(events, midnight_after(run_date, settings.recent_days), end, settings.segments, weights))
    keyed = every.withColumn("_key", F.concat_ws("\u0001", "list", "scope"))
    return top_n(keyed, settings.top_n, key="_key").select("list", "scope", "item_id", "score", "rank")


def main(spark: SparkSession, config: Config, run_date: dt.date) -> dict:
    """Build and write the popularity lists of `run_date`."""
    events = read_events(spark, config, run_date)
    catalog = spark.read.parquet(lake.curated(config.paths.lake, "catalog", run_date))
    out = lake.curated(config.paths.lake, "popularity", run_date)
    lists = transform(events, catalog, run_date, config.popularity, config.interactions.weights,
                      config.interactions.lookback_days)
    lake.write_partition(lists, out, 1, ["list", "scope", "rank"])
    counts = {f"{r['list']}": r["n"] for r in spark.read.parquet(out).filter(F.col("scope") == ALL)
              .groupBy("list").agg(F.count(F.lit(1)).alias("n")).collect()}
    report = {"job": "popularity", "run_date": run_date.isoformat(), "output": out, "overall_items": counts}
    lake.write_json(spark, lake.report(config.paths.lake, "popularity", run_date), report)
    log.info("popularity %s: %s", run_date, counts)
    return report
