"""Item-item neighbours ("similar items" on the product page) from co-occurrence, as of one run date.

A context is a user's history or one session. For items i and j:
    support(i, j) = contexts holding both;  n(i) = contexts holding i
    score(i, j)   = support / sqrt(n(i) n(j))  *  support / (support + shrink)
(cosine over binary context vectors, shrunk towards 0 when the evidence is thin). A
context contributes its similarity.max_history most recent items, which bounds the pairs
it makes; pairs are counted with sparse products per batch of contexts (models/cooccurrence.py)
and summed in Spark by item pair, so no item x item matrix is ever held on one node. Pairs
under similarity.min_support are dropped; the top_k best neighbours per item are kept.

Reads  {lake}/curated/events/dt=<lookback..D>/
Writes {lake}/curated/item_similarity/dt=D/  (item_id, neighbour_id, score, support, rank)
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from conf import Config, config_digest
from conf.schema import SimilarityConfig
from models.cooccurrence import indexed_pair_counts, item_numbers, with_ids
from models.topn import top_n
from spark_jobs import lake
from spark_jobs.interactions import read_events

log = logging.getLogger(__name__)


def contexts(events: DataFrame, max_history: int) -> DataFrame:
    """context, item_id: each user's and each session's distinct items, most recent max_history kept."""
    by_user = events.select(F.concat(F.lit("u:"), "user_id").alias("context"), "item_id", "event_time")
    by_session = (events.filter(F.col("session_id").isNotNull())
                  .select(F.concat(F.lit("s:"), "session_id").alias("context"), "item_id", "event_time"))
    last = by_user.unionByName(by_session).groupBy("context", "item_id").agg(F.max("event_time").alias("_last"))
    recent = Window.partitionBy("context").orderBy(F.col("_last").desc(), "item_id")
    return (last.withColumn("_n", F.row_number().over(recent))
            .filter(F.col("_n") <= max_history).select("context", "item_id"))


def cooccurrence_scores(baskets: DataFrame, min_support: int, shrink: float, chunk_products: int,
                        top_k: int) -> DataFrame:
    """item_id, neighbour_id, score, support, rank: the top_k neighbours per item from (context, item_id) rows
    (see the module doc). Scored and ranked by item number (ties: the neighbour's number, which follows its id),
    so only the kept pairs are joined back to their ids."""
    pairs, index = indexed_pair_counts(baskets, "context", chunk_products, min_support)
    counts = item_numbers(baskets.groupBy("item_id").agg(F.count(F.lit(1)).alias("_n")), index)
    n_i = counts.select("_i", F.col("_n").alias("_ni"))
    n_j = counts.select(F.col("_i").alias("_j"), F.col("_n").alias("_nj"))
    support = F.col("support").cast("double")
    scored = (pairs.join(n_i, "_i").join(n_j, "_j")
              .withColumn("score", support / F.sqrt(F.col("_ni") * F.col("_nj")) * support / (support + shrink)))
    kept = top_n(scored, top_k, key="_i", item="_j").select("_i", "_j", "score", "support", "rank")
    return with_ids(kept, index, "neighbour_id").select("item_id", "neighbour_id", "score", "support", "rank")


def transform(events: DataFrame, settings: SimilarityConfig, chunk_products: int) -> DataFrame:
    """Top-K neighbours per item (item_id, neighbour_id, score, support, rank)."""
    return cooccurrence_scores(contexts(events, settings.max_history), settings.min_support, settings.shrink,
                               chunk_products, settings.top_k)


def main(spark: SparkSession, config: Config, run_date: dt.date) -> dict:
    """Build and write the item neighbours of `run_date`."""
    end = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    events = read_events(spark, config, run_date).filter(F.col("event_time") < F.lit(end))
    report = lake.write_item_pairs(spark, config.paths.lake, "item_similarity", run_date,
                                   transform(events, config.similarity, config.cooccurrence.chunk_products),
                                   config.similarity.output_files, config_digest(config))
    log.info("item_similarity %s: %d pairs for %d items", run_date, report["pairs"], report["items"])
    return report
