"""implicit's ALS on the driver (single node; see models.als for the limit)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import DataFrame, SparkSession

from models.als.params import AlsError, AlsParams

FACTORS_DDL = "{key} string, factors array<float>"


def fit(spark: SparkSession, interactions: DataFrame, params: AlsParams, seed: int,
        max_interactions: int) -> tuple[DataFrame, DataFrame]:
    """(users, items) factor DataFrames fitted by implicit.cpu.als."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    pairs = interactions.select("user_id", "item_id", "weight")
    count = pairs.count()
    if count > max_interactions:
        raise AlsError(f"{count:,} interactions exceed als.max_interactions={max_interactions:,} for the "
                       f"single-node implicit engine: set als.engine=spark (RECS_ALS__ENGINE=spark)")
    frame = pairs.toPandas()
    users = pd.Categorical(frame["user_id"])
    items = pd.Categorical(frame["item_id"])
    matrix = sp.csr_matrix((frame["weight"].to_numpy(np.float32), (users.codes, items.codes)),
                           shape=(len(users.categories), len(items.categories)))
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="OpenBLAS is configured", category=RuntimeWarning)
        model = AlternatingLeastSquares(factors=params.factors, regularization=params.regularization,
                                        alpha=params.alpha, iterations=params.iterations, random_state=seed)
        model.fit(matrix, show_progress=False)
    return (as_frame(spark, "user_id", users.categories, model.user_factors),
            as_frame(spark, "item_id", items.categories, model.item_factors))


def as_frame(spark: SparkSession, key: str, ids, vectors: np.ndarray) -> DataFrame:
    """A DataFrame key, factors from ids and a matrix of the same length."""
    table = pd.DataFrame({key: np.asarray(ids, dtype=object), "factors": list(np.asarray(vectors, np.float32))})
    return spark.createDataFrame(table, FACTORS_DDL.format(key=key))
