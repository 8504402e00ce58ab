"""ALS factors for one run date, and every user's top-N candidates from a faiss index over them.

Reads  {lake}/curated/interactions/dt=D/
Writes {lake}/curated/als_user_factors/dt=D/, {lake}/curated/als_item_factors/dt=D/
       (user_id | item_id, factors) and {lake}/curated/als_candidates/dt=D/
       (user_id, item_id, score, rank; the user's own items excluded when ann.exclude_seen)
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from conf import Config
from models.als import train
from models.ann import retrieve
from spark_jobs import lake
from spark_jobs.interactions import InteractionsError

log = logging.getLogger(__name__)


def main(spark: SparkSession, config: Config, run_date: dt.date) -> dict:
    """Fit ALS on the run date's interactions, write factors and ANN candidates."""
    source = lake.curated(config.paths.lake, "interactions", run_date)
    if not lake.exists(spark, source):
        raise InteractionsError(f"no interactions for {run_date} under {source}: "
                                f"run `recs interactions --date {run_date}` first")
    interactions = spark.read.parquet(source)
    factors = train(spark, interactions, config.als, config.seed)
    out = {name: lake.curated(config.paths.lake, name, run_date)
           for name in ("als_user_factors", "als_item_factors", "als_candidates")}
    files = config.als.output_files
    lake.write_partition(factors.users, out["als_user_factors"], files, ["user_id"])
    lake.write_partition(factors.items, out["als_item_factors"], 1, ["item_id"])
    users = spark.read.parquet(out["als_user_factors"])
    items = spark.read.parquet(out["als_item_factors"])
    seen = interactions.select("user_id", "item_id") if config.ann.exclude_seen else None
    lake.write_partition(retrieve(spark, users, items, config.ann.top_n, config.ann, seen), out["als_candidates"],
                         config.ann.output_files, ["user_id", "rank"])
    counts = spark.read.parquet(out["als_candidates"]).agg(
        F.countDistinct("user_id").alias("users"), F.count(F.lit(1)).alias("candidates")).first().asDict()
    report = {"job": "als", "run_date": run_date.isoformat(), "output": out, "engine": factors.engine,
              "params": vars(factors.params), "items": items.count(), **counts}
    lake.write_json(spark, lake.report(config.paths.lake, "als", run_date), report)
    return report
