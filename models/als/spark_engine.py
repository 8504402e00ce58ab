"""Spark MLlib ALS (implicit feedback), distributed."""

from __future__ import annotations

from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from models.als.params import AlsParams


def dense_ids(values: DataFrame, key: str) -> DataFrame:
    """key, <key>_ix (int): distinct values numbered 0..n-1 without a driver-side dictionary."""
    distinct = values.select(key).distinct()
    return distinct.rdd.map(lambda row: row[0]).zipWithIndex().toDF([key, f"{key}_ix"]) \
        .withColumn(f"{key}_ix", F.col(f"{key}_ix").cast("int"))


def fit(interactions: DataFrame, params: AlsParams, seed: int) -> tuple[DataFrame, DataFrame]:
    """(users, items) factor DataFrames fitted by pyspark.ml ALS."""
    users, items = dense_ids(interactions, "user_id"), dense_ids(interactions, "item_id")
    ratings = interactions.join(users, "user_id").join(items, "item_id") \
        .select("user_id_ix", "item_id_ix", F.col("weight").cast("float").alias("weight"))
    als = ALS(rank=params.factors, maxIter=params.iterations, regParam=params.regularization, alpha=params.alpha,
              implicitPrefs=True, seed=seed, userCol="user_id_ix", itemCol="item_id_ix", ratingCol="weight",
              coldStartStrategy="drop")
    model = als.fit(ratings)
    user_factors = model.userFactors.join(users, F.col("id") == F.col("user_id_ix")) \
        .select("user_id", F.col("features").cast("array<float>").alias("factors"))
    item_factors = model.itemFactors.join(items, F.col("id") == F.col("item_id_ix")) \
        .select("item_id", F.col("features").cast("array<float>").alias("factors"))
    return user_factors, item_factors
