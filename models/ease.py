"""EASE (Steck 2019): item-item weights B = I - P diag(1 / diag(P)), P = (X'X + lambda I)^-1.

The Gram matrix X'X is summed in Spark (a self-join per user, so users never reach the
driver), then inverted on the driver: stated limit `ease.max_items` items (an n x n
float64 matrix; 20k items is 3.2 GB and a minute or two of inversion). Larger catalogs
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

log = logging.getLogger(__name__)
LIST_DDL = "user_id string, item_id string, score float, rank int"


def gram(interactions: DataFrame) -> DataFrame:
    """item_id, other_id, value = sum over users of w(u, i) * w(u, j) (both orders, and i = j)."""
    left = interactions.select("user_id", "item_id", F.col("weight").alias("_wi"))
    right = interactions.select("user_id", F.col("item_id").alias("other_id"), F.col("weight").alias("_wj"))
    return left.join(right, "user_id").groupBy("item_id", "other_id") \
        .agg(F.sum(F.col("_wi") * F.col("_wj")).alias("value"))


def weights(item_ids: np.ndarray, gram_rows: pd.DataFrame, regularization: float) -> np.ndarray:
    """The EASE matrix B (float32, zero diagonal) for the items in `item_ids` order."""
    position = pd.Series(np.arange(len(item_ids)), index=item_ids)
    g = np.zeros((len(item_ids), len(item_ids)), dtype=np.float64)
    g[position[gram_rows["item_id"]].to_numpy(), position[gram_rows["other_id"]].to_numpy()] = gram_rows["value"]
    g[np.diag_indices_from(g)] += regularization
    p = np.linalg.inv(g)
    b = p / (-np.diag(p))
    b[np.diag_indices_from(b)] = 0.0
    return b.astype(np.float32)


def fit(interactions: DataFrame, settings: EaseConfig,
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
    return item_ids, weights(item_ids, gram(scaled).toPandas(), settings.regularization)


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
