"""Neighbour lists scored on the executors: models.topn.from_neighbours with the neighbour table broadcast.

The same lists as the Spark join (score(u, j) = sum over the user's items i of weight(u, i) *
similarity(i, j); seen items dropped; top n by score, then item id; anchor = the user's item that
contributed most), without shuffling the expanded (user, item, neighbour) rows: the neighbour table
(items x top-K rows, bounded by ranking.broadcast_max_neighbours) is collected once, broadcast as a
sparse matrix over item positions (item ids in sorted order, so position order is id order), and each
executor expands and sums its own users in numpy. Each user's items reach the executors as one
row (collect_list per user), so no user is split between two tasks or batches.

Sums run in another order than Spark's, so scores may differ in the last bits; where two items'
contributions tie exactly, the anchor is the one with the smaller id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

LIST_DDL = "user_id string, item_id string, score double, rank int, anchor string"


@dataclass(frozen=True)
class Neighbours:
    """The neighbour table as CSR over item positions: row i's neighbours are indices[indptr[i]:indptr[i + 1]]."""

    ids: np.ndarray        # item ids (object), sorted
    indptr: np.ndarray     # int64, len(ids) + 1
    indices: np.ndarray    # int32 neighbour positions
    data: np.ndarray       # float64 similarities (a float column's values exactly, as Spark widens them)

    @classmethod
    def from_rows(cls, rows: pd.DataFrame) -> Neighbours:
        """From item_id, neighbour_id, score rows."""
        ids = np.array(sorted(set(rows["item_id"]).union(rows["neighbour_id"])), dtype=object)
        position = pd.Index(ids)
        src = position.get_indexer(rows["item_id"]).astype(np.int64)
        dst = position.get_indexer(rows["neighbour_id"]).astype(np.int32)
        order = np.lexsort((dst, src))
        indptr = np.zeros(len(ids) + 1, dtype=np.int64)
        np.add.at(indptr, src + 1, 1)
        return cls(ids, np.cumsum(indptr), dst[order],
                   rows["score"].to_numpy(dtype=np.float64)[order])


def user_lists(neighbours: Neighbours, chunk: pd.DataFrame, n: int, exclude_seen: bool,
               max_products: int) -> pd.DataFrame:
    """The top-n rows (LIST_DDL) of every user in `chunk` (user_id, item_id, weight; weight NaN or null: an item
    the user has seen that is not in the history the scores start from), expanded at most `max_products`
    (item, neighbour) products at a time."""
    users, first = np.unique(chunk["user_id"].to_numpy(dtype=object), return_inverse=True)
    position = neighbours.ids.searchsorted(chunk["item_id"].to_numpy(dtype=object))
    position = np.minimum(position, len(neighbours.ids) - 1)
    known = neighbours.ids[position] == chunk["item_id"].to_numpy(dtype=object)
    weight = chunk["weight"].to_numpy(dtype=np.float64, na_value=np.nan)
    start = neighbours.indptr[position]
    count = np.where(known & ~np.isnan(weight), neighbours.indptr[position + 1] - start, 0)
    seen = first[known].astype(np.int64) * len(neighbours.ids) + position[known]
    per_user = np.bincount(first, weights=count, minlength=len(users))
    group = ((np.cumsum(per_user) - per_user) // max(max_products, 1)).astype(np.int64)   # slices of ~max_products
    bounds = np.flatnonzero(np.r_[True, group[1:] != group[:-1], True])     # one slice at least, even empty
    out = pd.concat([slice_lists(neighbours, first, start, count, weight, position, seen, lo, hi, n, exclude_seen)
                     for lo, hi in zip(bounds[:-1], bounds[1:])], ignore_index=True)
    return pd.DataFrame({"user_id": users[out["_u"].to_numpy(dtype=np.int64)],
                         "item_id": neighbours.ids[out["_j"].to_numpy(dtype=np.int64)],
                         "score": out["score"].to_numpy(dtype=np.float64),
                         "rank": out["rank"].to_numpy(dtype=np.int32),
                         "anchor": neighbours.ids[out["_a"].to_numpy(dtype=np.int64)]})


def slice_lists(neighbours: Neighbours, first: np.ndarray, start: np.ndarray, count: np.ndarray,
                weight: np.ndarray, position: np.ndarray, seen: np.ndarray, lo: int, hi: int, n: int,
                exclude_seen: bool) -> pd.DataFrame:
    """_u, _j, score, rank, _a for the users lo..hi-1 (indices into the chunk's users)."""
    rows = np.flatnonzero((first >= lo) & (first < hi) & (count > 0))
    reps = count[rows]
    total = int(reps.sum())
    if total == 0:
        return pd.DataFrame({"_u": [], "_j": [], "score": [], "rank": [], "_a": []})
    offsets = np.repeat(start[rows] - np.cumsum(reps) + reps, reps) + np.arange(total)
    user = np.repeat(first[rows], reps).astype(np.int64)
    item = neighbours.indices[offsets].astype(np.int64)
    contribution = np.repeat(weight[rows], reps) * neighbours.data[offsets]
    anchor = np.repeat(position[rows], reps)
    key = user * len(neighbours.ids) + item
    order = np.lexsort((anchor, -contribution, key))       # per pair: its biggest contribution first
    key, contribution, anchor = key[order], contribution[order], anchor[order]
    head = np.r_[True, key[1:] != key[:-1]]
    group = np.cumsum(head) - 1
    score = np.bincount(group, weights=contribution)
    pair, best = key[head], anchor[head]
    if exclude_seen:
        keep = ~np.isin(pair, seen[(seen >= lo * len(neighbours.ids)) & (seen < hi * len(neighbours.ids))])
        pair, best, score = pair[keep], best[keep], score[keep]
    pair_user, pair_item = pair // len(neighbours.ids), pair % len(neighbours.ids)
    ranked = np.lexsort((pair_item, -score, pair_user))
    pair_user, pair_item, score, best = pair_user[ranked], pair_item[ranked], score[ranked], best[ranked]
    new_user = np.r_[True, pair_user[1:] != pair_user[:-1]]
    starts = np.flatnonzero(new_user)
    rank = np.arange(len(pair_user)) - np.repeat(starts, np.diff(np.r_[starts, len(pair_user)])) + 1
    top = rank <= n
    return pd.DataFrame({"_u": pair_user[top], "_j": pair_item[top], "score": score[top], "rank": rank[top],
                         "_a": best[top]})


def from_neighbours(history: DataFrame, neighbours: DataFrame, n: int, exclude_seen: bool,
                    seen: DataFrame | None, max_products: int) -> DataFrame:
    """user_id, item_id, score, rank, anchor: models.topn.from_neighbours(..., anchor=True), scored on the
    executors with `neighbours` (item_id, neighbour_id, score) collected and broadcast (bound it first)."""
    spark = history.sparkSession
    table = Neighbours.from_rows(neighbours.select("item_id", "neighbour_id", "score").toPandas())
    if len(table.ids) == 0:
        return spark.createDataFrame([], LIST_DDL)
    payload = spark.sparkContext.broadcast(table)
    rows = history.select("user_id", "item_id", F.coalesce(F.col("weight").cast("double"), F.lit(float("nan")))
                          .alias("weight"))          # a null weight contributes nothing, as in the Spark join
    # the user's other seen items, with a NaN weight (collect_list drops null)
    if exclude_seen and seen is not None:
        others = seen.join(rows.select("user_id").distinct(), "user_id", "left_semi") \
            .join(rows, ["user_id", "item_id"], "left_anti")
        rows = rows.unionByName(others.select("user_id", "item_id", F.lit(float("nan")).alias("weight")))
    # one row per user: a repartition by user_id of this union was seen to split a user's rows between two tasks
    grouped = rows.groupBy("user_id").agg(F.collect_list("item_id").alias("items"),
                                          F.collect_list("weight").alias("weights"))

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield user_lists(payload.value, exploded(batch), n, exclude_seen, max_products)

    return grouped.mapInPandas(score, LIST_DDL)


def exploded(batch: pd.DataFrame) -> pd.DataFrame:
    """user_id, item_id, weight rows from one row per user (user_id, items, weights: arrays of one order)."""
    lengths = batch["items"].map(len).to_numpy()
    if not lengths.sum():
        return pd.DataFrame({"user_id": [], "item_id": [], "weight": []})
    return pd.DataFrame({"user_id": np.repeat(batch["user_id"].to_numpy(dtype=object), lengths),
                         "item_id": np.concatenate(batch["items"].to_numpy()).astype(object),
                         "weight": np.concatenate(batch["weights"].to_numpy()).astype(np.float64)})
