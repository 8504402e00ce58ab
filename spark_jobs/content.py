"""Content neighbours of every catalog item, and the product page's blended similar-item lists.

content_similarity: models/content.py features + faiss, for every item in the catalog of
    the run date, including new items nobody has bought yet (cold start).
similar_items: per item, (1 - content.blend) * co-occurrence score (scaled to the item's
    best neighbour) + content.blend * content score, top similarity.top_k; items without
    co-occurrence neighbours get their content neighbours alone.
The catalog is processed on the driver (items, not users; limit content.max_items).

Reads  {lake}/curated/catalog/dt=D/, {lake}/curated/item_similarity/dt=D/ (an error when missing:
       run item_similarity first)
Writes {lake}/curated/content_similarity/dt=D/, {lake}/curated/similar_items/dt=D/
       (item_id, neighbour_id, score, rank [, source])
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from conf import Config
from models.content import ContentError, neighbours
from models.topn import top_n
from spark_jobs import lake

NEIGHBOURS_DDL = "item_id string, neighbour_id string, score float, rank int"


def transform(spark: SparkSession, catalog: DataFrame, config: Config) -> DataFrame:
    """item_id, neighbour_id, score, rank from content features (catalog collected: items only)."""
    items = catalog.select("item_id", "title", "category", "brand", "price").orderBy("item_id").toPandas()
    return spark.createDataFrame(neighbours(items, config.content, config.ann), NEIGHBOURS_DDL)


def blend(collaborative: DataFrame, content: DataFrame, share: float, top_k: int) -> DataFrame:
    """Blend two neighbour lists per item; source says which list(s) a neighbour came from."""
    best = Window.partitionBy("item_id")
    cf = collaborative.select("item_id", "neighbour_id", (F.col("score") / F.max("score").over(best)).alias("_cf"))
    both = cf.join(content.select("item_id", "neighbour_id", F.col("score").alias("_ct")),
                   ["item_id", "neighbour_id"], "full_outer").fillna(0.0, ["_cf", "_ct"])
    has_cf = F.max(F.col("_cf") > 0).over(best)
    weight = F.when(has_cf, F.lit(share)).otherwise(F.lit(1.0))
    scored = both.withColumn("score", (1 - weight) * F.col("_cf") + weight * F.col("_ct")).withColumn(
        "source", F.when((F.col("_cf") > 0) & (F.col("_ct") > 0), "both")
        .when(F.col("_cf") > 0, "co_occurrence").otherwise("content"))
    return top_n(scored.filter(F.col("score") > 0), top_k, key="item_id", item="neighbour_id") \
        .select("item_id", "neighbour_id", "score", "rank", "source")


def main(spark: SparkSession, config: Config, run_date: dt.date) -> dict:
    """Build and write content neighbours and blended similar items of `run_date`."""
    catalog = spark.read.parquet(lake.curated(config.paths.lake, "catalog", run_date))
    out = {name: lake.curated(config.paths.lake, name, run_date) for name in ("content_similarity", "similar_items")}
    lake.write_partition(transform(spark, catalog, config), out["content_similarity"], 1, ["item_id", "rank"])
    content = spark.read.parquet(out["content_similarity"])
    cf_path = lake.curated(config.paths.lake, "item_similarity", run_date)
    if not lake.exists(spark, cf_path):
        raise ContentError(f"content {run_date}: no item_similarity at {cf_path}; similar_items blends it with the "
                           "content neighbours, so run the item_similarity step for that date first")
    collaborative = spark.read.parquet(cf_path)
    lake.write_partition(blend(collaborative, content, config.content.blend, config.similarity.top_k),
                         out["similar_items"], config.similarity.output_files, ["item_id", "rank"])
    counts = spark.read.parquet(out["similar_items"]).groupBy("source").count().collect()
    report = {"job": "content", "run_date": run_date.isoformat(), "output": out,
              "content_pairs": content.count(), "similar_items_by_source": {r["source"]: r["count"] for r in counts}}
    lake.write_json(spark, lake.report(config.paths.lake, "content", run_date), report)
    return report
