"""Item x item sums over groups (a user's history, a session, an order), with sparse matrices per batch.

For rows (group, item, value), the sum over groups g of value(g, i) * value(g, j) for every pair of
items that share a group: X'X of the groups x items matrix X (EASE's Gram matrix; with value 1, the
number of groups holding both items, item_similarity's and fbt_pairs' support).

Items are numbered (index: item_id -> _i); each group's items are collected into one row, so a
batch of rows holds whole groups; each batch is cut into chunks of at most `chunk_products` item
products (sum of n_g^2; a group over it is a chunk of its own), and each chunk's X_c'X_c, upper
triangle, is one scipy product. Only its distinct pairs reach Spark, summed by (i, j) there; no
group's pairs are spelled out as rows. (The self-join on the group made sum over groups of n_g^2
string-keyed rows: 48 million for Online Retail's user histories, 20-28 s per fit on this machine,
against 5 s here.)
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from models.topn import positions

SUMS_DDL = "_i int, _j int, value double"


def item_index(rows: DataFrame) -> DataFrame:
    """item_id, _i: the distinct items of `rows` numbered 0.. in item_id order (distributed)."""
    return positions(rows.select("item_id").distinct(), [F.col("item_id")], "_i").withColumn("_i", F.col("_i") - 1)


def chunks(lengths: np.ndarray, chunk_products: int) -> Iterator[tuple[int, int]]:
    """(start, stop) row ranges whose sum of length^2 stays within chunk_products (one row at least)."""
    start, products = 0, 0
    for row, n in enumerate(lengths.tolist()):
        if row > start and products + n * n > chunk_products:
            yield start, row
            start, products = row, 0
        products += n * n
    if start < len(lengths):
        yield start, len(lengths)


def batch_sums(batch: pd.DataFrame, chunk_products: int, diagonal: bool) -> Iterator[pd.DataFrame]:
    """_i, _j (i < j, or i <= j with `diagonal`), value: X'X of one batch of groups (columns _is, _vs)."""
    lengths = batch["_is"].map(len).to_numpy()
    for start, stop in chunks(lengths, chunk_products):
        part = batch.iloc[start:stop]
        cols = np.concatenate(part["_is"].to_numpy()).astype(np.int32)
        if len(cols) == 0:
            continue
        values = np.concatenate(part["_vs"].to_numpy()).astype(np.float64)
        x = sp.csr_matrix((values, cols, np.r_[0, np.cumsum(lengths[start:stop])]),
                          shape=(stop - start, int(cols.max()) + 1))
        x.sum_duplicates()
        product = sp.triu(x.T @ x, k=0 if diagonal else 1).tocoo()
        yield pd.DataFrame({"_i": product.row.astype(np.int32), "_j": product.col.astype(np.int32),
                            "value": product.data})


def pair_sums(rows: DataFrame, group: str, index: DataFrame, chunk_products: int, value: str | None = None,
              diagonal: bool = False) -> DataFrame:
    """_i, _j, value: the sum over groups of value(g, i) * value(g, j) for i < j (i <= j with `diagonal`).

    rows: group, item_id[, value] (value None: 1 per row, so the sums count groups); index: item_index's.
    """
    weight = F.col(value).cast("double") if value else F.lit(1.0)
    grouped = (rows.join(index, "item_id").groupBy(group)
               .agg(F.collect_list("_i").alias("_is"), F.collect_list(weight).alias("_vs")))

    def products(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield from batch_sums(batch, chunk_products, diagonal)

    return grouped.mapInPandas(products, SUMS_DDL).groupBy("_i", "_j").agg(F.sum("value").alias("value"))


def indexed_pair_counts(rows: DataFrame, group: str, chunk_products: int,
                        min_support: int = 1) -> tuple[DataFrame, DataFrame]:
    """(pairs, index): pairs = _i, _j, support for every ordered pair of distinct items held together by at least
    `min_support` groups, by item number; index = item_index(rows), cached (the sums and any join back read it).

    rows: group, item_id, one row per distinct (group, item). Scoring and ranking the pairs by number and
    joining the ids back only to the pairs kept sorts integers instead of strings (with_ids).
    """
    index = item_index(rows).cache()
    upper = pair_sums(rows, group, index, chunk_products).filter(F.col("value") >= min_support)
    both = upper.unionByName(upper.select(F.col("_j").alias("_i"), F.col("_i").alias("_j"), "value"))
    return both.select("_i", "_j", F.col("value").cast("long").alias("support")), index


def with_ids(pairs: DataFrame, index: DataFrame, other: str) -> DataFrame:
    """`pairs` (_i, _j, ...) with item_id for _i and `other` for _j, looked up in `index`."""
    return (pairs.join(index, "_i")
            .join(index.select(F.col("item_id").alias(other), F.col("_i").alias("_j")), "_j")
            .drop("_i", "_j"))


def item_numbers(counts: DataFrame, index: DataFrame) -> DataFrame:
    """An item_id-keyed table (items-sized) keyed by item number instead: _i, its other columns."""
    return counts.join(index, "item_id").drop("item_id")
