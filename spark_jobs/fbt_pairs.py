"""Frequently bought together: item pairs within the same order, as of one run date.

For items i, j over orders (distinct items per order; orders above fbt.max_order_items skipped):
    support(i, j)       = orders holding both
    confidence(i -> j)  = support(i, j) / orders(i)
    lift(i, j)          = confidence(i -> j) / (orders(j) / orders)
Pairs below fbt.min_confidence or min_lift are dropped, and so are pairs below fbt.min_support,
except for an item with fewer than fbt.min_partners pairs at that support: it keeps its pairs
down to fbt.sparse_min_support (on sparse purchase data most items would otherwise have no
partner at all; measured with `recs eval`'s cart protocol, README). Per item the top_k partners
by confidence (then lift) are kept. models/cart.py combines these lists for a whole cart.

Reads  {lake}/curated/events/dt=<lookback..D>/ (purchases with an order_id)
Writes {lake}/curated/fbt_pairs/dt=D/  (item_id, other_id, support, confidence, lift, score, rank)
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from conf import Config, config_digest
from conf.schema import FbtConfig
from models.cooccurrence import indexed_pair_counts, item_numbers, with_ids
from spark_jobs import lake
from spark_jobs.interactions import read_events

log = logging.getLogger(__name__)


def orders(events: DataFrame, max_order_items: int) -> DataFrame:
    """order_id, item_id: distinct items of each purchase order of at most max_order_items items."""
    lines = (events.filter((F.col("event_type") == "purchase") & F.col("order_id").isNotNull())
             .select("order_id", "item_id").distinct())
    size = lines.groupBy("order_id").agg(F.count(F.lit(1)).alias("_size"))
    return lines.join(size.filter(F.col("_size") <= max_order_items), "order_id").select("order_id", "item_id")


def pair_statistics(baskets: DataFrame, chunk_products: int,
                    min_support: int = 1) -> tuple[DataFrame, DataFrame]:
    """(stats, index): stats = _i, _j, support, confidence, lift for every ordered pair of items (by number) held
    by at least `min_support` orders; index = the item index (item_id, _i), to map them back (cooccurrence.with_ids)."""
    n_orders = baskets.select("order_id").distinct().groupBy().count().withColumnRenamed("count", "_orders")
    pairs, index = indexed_pair_counts(baskets, "order_id", chunk_products, min_support)
    per_item = item_numbers(baskets.groupBy("item_id").agg(F.count(F.lit(1)).alias("_ni")), index)
    other = per_item.select(F.col("_i").alias("_j"), F.col("_ni").alias("_nj"))
    confidence = F.col("support") / F.col("_ni")
    return (pairs.join(per_item, "_i").join(other, "_j").crossJoin(F.broadcast(n_orders))
            .select("_i", "_j", "support", confidence.alias("confidence"),
                    (confidence / (F.col("_nj") / F.col("_orders"))).alias("lift"))), index


def transform(events: DataFrame, settings: FbtConfig, chunk_products: int) -> DataFrame:
    """Top-K partners per item that pass the thresholds; score = confidence. Chosen and ranked by item number
    (ties: the partner's number, which follows its id); only the kept pairs are joined back to their ids."""
    stats, index = pair_statistics(orders(events, settings.max_order_items), chunk_products,
                                   min(settings.min_support, settings.sparse_min_support))
    passing = stats.filter((F.col("confidence") >= settings.min_confidence) & (F.col("lift") >= settings.min_lift))
    strong = F.col("support") >= settings.min_support
    partners = F.sum(strong.cast("int")).over(Window.partitionBy("_i"))
    kept = passing.withColumn("_partners", partners).filter(strong | (F.col("_partners") < settings.min_partners))
    order = Window.partitionBy("_i").orderBy(F.col("confidence").desc(), F.col("lift").desc(), "_j")
    ranked = kept.withColumn("rank", F.row_number().over(order)).filter(F.col("rank") <= settings.top_k)
    return with_ids(ranked, index, "other_id").select(
        "item_id", "other_id", "support", "confidence", "lift", F.col("confidence").alias("score"), "rank")


def main(spark: SparkSession, config: Config, run_date: dt.date) -> dict:
    """Build and write the bought-together pairs of `run_date`."""
    end = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    events = read_events(spark, config, run_date).filter(F.col("event_time") < F.lit(end))
    report = lake.write_item_pairs(spark, config.paths.lake, "fbt_pairs", run_date,
                                   transform(events, config.fbt, config.cooccurrence.chunk_products),
                                   config.fbt.output_files, config_digest(config))
    log.info("fbt_pairs %s: %d pairs for %d items", run_date, report["pairs"], report["items"])
    return report
