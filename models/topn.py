"""Top-N lists per user in Spark: ranking, exclusion of seen items, neighbour and global sources.

Every function returns user_id, item_id, score, rank (1 = best; ties broken by item_id) and
stays distributed: nothing that grows with users or events reaches the driver.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType

LIST_COLUMNS = ("user_id", "item_id", "score", "rank")


def top_n(scored: DataFrame, n: int, key: str = "user_id", item: str = "item_id") -> DataFrame:
    """The n best-scored rows per key, ranked 1..n (score descending, then item id)."""
    order = Window.partitionBy(key).orderBy(F.col("score").desc(), F.col(item))
    return (scored.withColumn("rank", F.row_number().over(order))
            .filter(F.col("rank") <= n))


def without_seen(scored: DataFrame, seen: DataFrame) -> DataFrame:
    """Rows of `scored` whose (user_id, item_id) is not in `seen`."""
    return scored.join(seen.select("user_id", "item_id"), ["user_id", "item_id"], "left_anti")


def from_neighbours(history: DataFrame, neighbours: DataFrame, n: int, exclude_seen: bool,
                    anchor: bool = False, seen: DataFrame | None = None) -> DataFrame:
    """Score items by sum over the user's items i of weight(u, i) * similarity(i, j).

    Args:
        history: user_id, item_id, weight (e.g. interactions, possibly cut to recent items).
        neighbours: item_id, neighbour_id, score (top-K per item).
        n: list length.
        exclude_seen: drop the user's own items.
        anchor: also return `anchor`, the user's item that contributed most (provenance; a tie between two
            items' contributions picks either).
        seen: the user's items, excluded with exclude_seen, where the anchor's id is looked up (default: history).
    """
    contribution = F.col("weight") * F.col("_sim")
    hashed = F.xxhash64("item_id").alias("_anchor_hash")
    aggregates = [F.sum(contribution).alias("score")]
    if anchor:      # by hash: a fixed-width max_by keeps the aggregation hashed (a string one sorts every pair row)
        aggregates.append(F.max_by("_anchor_hash", contribution).alias("_anchor_hash"))
    scored = (history.select("user_id", "item_id", "weight", hashed)
              .join(neighbours.select("item_id", "neighbour_id", F.col("score").alias("_sim")), "item_id")
              .groupBy("user_id", F.col("neighbour_id").alias("item_id"))
              .agg(*aggregates))
    if exclude_seen:
        scored = without_seen(scored, history if seen is None else seen)
    top = top_n(scored, n)
    if not anchor:
        return top.select(*LIST_COLUMNS)
    items = history if seen is None else seen       # the user's items: a superset of history (often cached)
    anchors = items.select("user_id", F.col("item_id").alias("anchor"), hashed).distinct() \
        .dropDuplicates(["user_id", "_anchor_hash"])
    return top.join(anchors, ["user_id", "_anchor_hash"], "left").select(*LIST_COLUMNS, "anchor")


def positions(frame: DataFrame, order: list, column: str) -> DataFrame:
    """`frame` with `column` = its 1-based position in `order` (a total order), computed partition by partition
    (a range sort, then RDD zipWithIndex) instead of a window without a partition key, which would move every
    row to one partition."""
    ordered = frame.orderBy(*order)
    indexed = ordered.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1] + 1))
    schema = StructType([*ordered.schema.fields, StructField(column, LongType(), False)])
    return indexed.toDF(schema).withColumn(column, F.col(column).cast("int"))


def from_global(users: DataFrame, ranked: DataFrame, seen: DataFrame, n: int, exclude_seen: bool) -> DataFrame:
    """The same global list (item_id, score) for every user; with exclusion, each user's own items removed.

    Each user gets the first n + |seen(u)| items, so n remain after removing theirs; the
    global list (one row per item) is broadcast.
    """
    ordered = positions(ranked, [F.col("score").desc(), F.col("item_id")], "_g")
    if not exclude_seen:
        return users.select("user_id").crossJoin(F.broadcast(ordered.filter(F.col("_g") <= n))) \
            .select("user_id", "item_id", "score", F.col("_g").alias("rank"))
    n_seen = seen.groupBy("user_id").agg(F.count(F.lit(1)).alias("_n_seen"))
    wanted = users.select("user_id").join(n_seen, "user_id", "left").fillna(0, ["_n_seen"])
    pairs = wanted.join(F.broadcast(ordered), F.col("_g") <= F.col("_n_seen") + n)
    return top_n(without_seen(pairs, seen), n).select(*LIST_COLUMNS)


def pad(primary: DataFrame, fallback: DataFrame, n: int) -> DataFrame:
    """primary's list, then fallback's items not already in it, up to n per user (ranks renumbered)."""
    both = (primary.select("user_id", "item_id", "score", F.lit(0).alias("_src"), "rank")
            .unionByName(fallback.select("user_id", "item_id", "score", F.lit(1).alias("_src"), "rank")))
    first = Window.partitionBy("user_id", "item_id").orderBy("_src", "rank")
    unique = both.withColumn("_k", F.row_number().over(first)).filter("_k = 1")
    order = Window.partitionBy("user_id").orderBy("_src", "rank")
    return (unique.withColumn("_r", F.row_number().over(order)).filter(F.col("_r") <= n)
            .select("user_id", "item_id", "score", F.col("_r").alias("rank")))
