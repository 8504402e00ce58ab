"""EASE (Steck 2019): item-item weights B = I - P diag(1 / diag(P)), P = (X'X + lambda I)^-1.

The Gram matrix X'X is summed in Spark (models/cooccurrence.py: sparse products per batch of
users, so users never reach the driver), then inverted on the driver: stated limit
`ease.max_items` items (an n x n float64 matrix; 20k items is 3.2 GB and a minute or two of inversion). Larger catalogs
are skipped with a log line. Users are scored on the executors with B broadcast
(float32), partition by partition.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from conf.schema import EaseConfig
from models import cooccurrence

log = logging.getLogger(__name__)
LIST_DDL = "user_id string, item_id string, score float, rank int"


def gram(interactions: DataFrame, item_ids: np.ndarray, chunk_products: int) -> pd.DataFrame:
    """_i, _j, value (i <= j, positions in `item_ids`) = sum over users of w(u, i) * w(u, j)."""
    spark = interactions.sparkSession
    index = spark.createDataFrame(pd.DataFrame({"item_id": item_ids, "_i": np.arange(len(item_ids), dtype=np.int32)}),
                                  "item_id string, _i int")
    return cooccurrence.pair_sums(interactions, "user_id", F.broadcast(index), chunk_products, value="weight",
                                  diagonal=True).toPandas()


def weights(n_items: int, gram_rows: pd.DataFrame, regularization: float) -> np.ndarray:
    """The EASE matrix B (float32, zero diagonal) from the Gram matrix's upper triangle (gram's rows)."""
    g = np.zeros((n_items, n_items), dtype=np.float64)
    i, j, value = gram_rows["_i"].to_numpy(), gram_rows["_j"].to_numpy(), gram_rows["value"].to_numpy()
    g[i, j] = value
    g[j, i] = value
    g[np.diag_indices_from(g)] += regularization
    p = np.linalg.inv(g)
    b = p / (-np.diag(p))
    b[np.diag_indices_from(b)] = 0.0
    return b.astype(np.float32)


def fit(interactions: DataFrame, settings: EaseConfig, chunk_products: int,
        unit_weight: float = 1.0) -> tuple[np.ndarray, np.ndarray] | None:
    """(item ids, B), or None (with a log line) when the catalog is over ease.max_items.

    Weights are divided by `unit_weight` (the largest event-type weight: a fresh purchase
    counts 1), so ease.regularization means the same whatever the interaction weights are.
    """
    distinct = interactions.select("item_id").distinct()
    if distinct.count() > settings.max_items:
        log.warning("EASE skipped: more than ease.max_items=%d items in the interactions (single-node limit)",
                    settings.max_items)
        return None
    item_ids = np.array(sorted(r[0] for r in distinct.collect()), dtype=object)
    scaled = interactions.withColumn("weight", F.col("weight") / float(unit_weight))
    return item_ids, weights(len(item_ids), gram(scaled, item_ids, chunk_products), settings.regularization)


def recommend(spark: SparkSession, interactions: DataFrame, model: tuple[np.ndarray, np.ndarray], n: int,
              exclude_seen: bool, users: DataFrame | None = None) -> DataFrame:
    """user_id, item_id, score, rank: top n of x_u B per user (x_u: the user's weights)."""
    payload = spark.sparkContext.broadcast(model)
    history = interactions
    if users is not None:
        history = history.join(users.select("user_id"), "user_id")
    rows = history.groupBy("user_id").agg(F.collect_list("item_id").alias("items"),
                                          F.collect_list("weight").alias("weights"))

    def score(batches):
        ids, b = payload.value
        position = {item: i for i, item in enumerate(ids)}
        for batch in batches:
            yield top_rows(ids, b, position, batch, n, exclude_seen)

    return rows.mapInPandas(score, LIST_DDL)


def top_rows(ids: np.ndarray, b: np.ndarray, position: dict, batch: pd.DataFrame, n: int,
             exclude_seen: bool) -> pd.DataFrame:
    """Score one batch of users against B and keep the top n of each."""
    x = np.zeros((len(batch), len(ids)), dtype=np.float32)
    for row, (items, values) in enumerate(zip(batch["items"], batch["weights"])):
        known = [(position[i], w) for i, w in zip(items, values) if i in position]
        if known:
            cols, vals = zip(*known)
            x[row, list(cols)] = vals
    scores = x @ b
    if exclude_seen:
        scores[x > 0] = -np.inf
    take = min(n, len(ids))
    best = np.argpartition(-scores, take - 1, axis=1)[:, :take] if take < len(ids) else \
        np.tile(np.arange(len(ids)), (len(batch), 1))
    out = {"user_id": [], "item_id": [], "score": [], "rank": []}
    for row, user in enumerate(batch["user_id"]):
        chosen = best[row][np.lexsort((best[row], -scores[row, best[row]]))]
        chosen = chosen[np.isfinite(scores[row, chosen])]
        out["user_id"] += [user] * len(chosen)
        out["item_id"] += list(ids[chosen])
        out["score"] += list(scores[row, chosen])
        out["rank"] += list(range(1, len(chosen) + 1))
    return pd.DataFrame({"user_id": out["user_id"], "item_id": out["item_id"],
                         "score": np.asarray(out["score"], np.float32), "rank": np.asarray(out["rank"], np.int32)})
