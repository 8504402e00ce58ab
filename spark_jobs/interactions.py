"""Per (user, item) interaction weights as of the end of one run date.

weight = sum over the pair's events of weights[event_type] * 0.5 ** (age_days / half_life_days),
where age is measured from the end of the run date (interactions.decay_from: run_date) or from
the user's own last event (user_last_event: a user who buys every few months keeps the weight of
their history, and their items still link to each other in the item-item models; the order of
their own events still decays). Only events before the end of the run date and within
interactions.lookback_days count: nothing from a later day leaks in.

Reads  {lake}/curated/events/dt=<D - lookback .. D>/
Writes {lake}/curated/interactions/dt=D/
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from conf import Config
from conf.schema import InteractionsConfig
from spark_jobs import lake
from spark_jobs.columns import INTERACTIONS_SCHEMA
from spark_jobs.validation import end_of_day

log = logging.getLogger(__name__)
SECONDS_PER_DAY = 86400.0


class InteractionsError(RuntimeError):
    """Interactions cannot be built for the date (usually: ingest has not run for it)."""


def transform(events: DataFrame, run_date: dt.date, settings: InteractionsConfig) -> DataFrame:
    """Aggregate curated events into decayed (user, item) weights.

    Args:
        events: curated events (columns.EVENTS_SCHEMA), possibly from several dt partitions
            and possibly holding the same event_id twice (a late re-send on another day).
        run_date: weights are computed as of midnight UTC after this date.
        settings: the `interactions` section (weights, half-life, lookback).

    Returns:
        One row per (user_id, item_id) with positive weight, in INTERACTIONS_SCHEMA.
    """
    end = end_of_day(run_date)
    start = F.lit(dt.datetime.combine(run_date + dt.timedelta(days=1 - settings.lookback_days), dt.time()))
    window = events.filter((F.col("event_time") < end) & (F.col("event_time") >= start))
    first_copy = Window.partitionBy("event_id").orderBy("event_time", "user_id", "item_id")
    unique = window.withColumn("_copy", F.row_number().over(first_copy)).filter("_copy = 1")

    type_weight = F.create_map(*[x for k, v in sorted(settings.weights.items()) for x in (F.lit(k), F.lit(v))])
    since = end if settings.decay_from == "run_date" else F.max("event_time").over(Window.partitionBy("user_id"))
    age_days = (F.unix_micros(since) - F.unix_micros("event_time")) / (SECONDS_PER_DAY * 1e6)
    decay = F.pow(F.lit(0.5), age_days / settings.half_life_days)
    weighted = unique.withColumn("_w", type_weight[F.col("event_type")] * decay)

    def count_of(event_type: str):
        return F.sum(F.when(F.col("event_type") == event_type, 1).otherwise(0)).cast("long")

    pairs = weighted.groupBy("user_id", "item_id").agg(
        F.sum("_w").alias("weight"),
        F.count(F.lit(1)).alias("n_events"),
        count_of("view").alias("n_views"),
        count_of("add_to_cart").alias("n_carts"),
        count_of("purchase").alias("n_purchases"),
        F.sum(F.when(F.col("event_type") == "purchase", F.col("quantity")).otherwise(0)).cast("long")
        .alias("quantity_purchased"),
        F.min("event_time").alias("first_time"),
        F.max("event_time").alias("last_time"),
    )
    positive = pairs.filter(F.col("weight") > 0)
    return positive.select(*[F.col(f.name).cast(f.dataType) for f in INTERACTIONS_SCHEMA.fields])


def read_events(spark: SparkSession, config: Config, run_date: dt.date) -> DataFrame:
    """Curated events of the lookback window ending at run_date (partitions pruned by dt)."""
    root = lake.curated(config.paths.lake, "events")
    dates = lake.list_dates(spark, root)
    if run_date not in dates:
        raise InteractionsError(
            f"no curated events for {run_date} under {root}: run `recs ingest --date {run_date}` first")
    first = run_date - dt.timedelta(days=config.interactions.lookback_days - 1)
    wanted = [lake.curated(config.paths.lake, "events", d) for d in dates if first <= d <= run_date]
    log.info("interactions %s: reading %d event partition(s) from %s", run_date, len(wanted), first)
    return spark.read.option("basePath", root).parquet(*wanted).drop("dt")


def main(spark: SparkSession, config: Config, run_date: dt.date) -> dict:
    """Build and write interactions for `run_date`; return counts for the run's report."""
    events = read_events(spark, config, run_date)
    out = lake.curated(config.paths.lake, "interactions", run_date)
    lake.write_partition(transform(events, run_date, config.interactions), out,
                         config.interactions.output_files, ["user_id", "item_id"])
    written = spark.read.parquet(out)
    counts = written.agg(F.count(F.lit(1)).alias("pairs"), F.countDistinct("user_id").alias("users"),
                         F.countDistinct("item_id").alias("items")).first()
    report = {"job": "interactions", "run_date": run_date.isoformat(), "output": out, **counts.asDict()}
    lake.write_json(spark, lake.report(config.paths.lake, "interactions", run_date), report)
    log.info("interactions %s: %d pairs, %d users, %d items", run_date, counts.pairs, counts.users, counts.items)
    return report
