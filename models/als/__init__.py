"""ALS factors behind one interface, two engines chosen by `als.engine`.

- implicit (default): implicit's conjugate-gradient ALS on one node. The interactions
  are collected to the driver as a sparse matrix: stated limit `als.max_interactions`
  (50M pairs is about 1 GB); above it the run stops and says to use the spark engine.
- spark: Spark MLlib ALS (implicitPrefs), distributed; ids are indexed with zipWithIndex.

Both read user_id, item_id, weight (the interactions table) and return the factors as
DataFrames user_id | item_id, factors (array<float>). Confidence is 1 + alpha * weight in
both. MLlib scales the regularization by each row's count of ratings (ALS-WR) and
implicit does not, so the same number means a somewhat different model in each.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from conf.schema import AlsConfig
from models.als import implicit_engine, spark_engine
from models.als.params import AlsError, AlsParams

__all__ = ["AlsError", "AlsParams", "Factors", "train"]


@dataclass
class Factors:
    """user_id, factors and item_id, factors (array<float>) DataFrames of one fit."""

    users: DataFrame
    items: DataFrame
    engine: str
    params: AlsParams


def train(spark: SparkSession, interactions: DataFrame, settings: AlsConfig, seed: int,
          params: AlsParams | None = None, engine: str | None = None) -> Factors:
    """Fit ALS with the configured (or given) engine and parameters."""
    params = params or AlsParams.of(settings)
    engine = engine or settings.engine
    if engine == "implicit":
        return Factors(*implicit_engine.fit(spark, interactions, params, seed, settings.max_interactions), engine,
                       params)
    if engine == "spark":
        return Factors(*spark_engine.fit(interactions, params, seed), engine, params)
    raise AlsError(f"unknown als.engine {engine!r}: use implicit or spark")
