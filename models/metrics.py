"""Offline ranking metrics at K, computed per user in Spark and then averaged.

Definitions (binary relevance, as in ../shared/EVALUATION.md):
- precision@K = hits / K;  recall@K = hits / |relevant|;  hit rate = share of users with a hit
- NDCG@K: gain 1, discount 1 / log2(rank + 1), ideal DCG over min(K, |relevant|) hits
- MAP@K: sum over hit ranks r of precision@r, divided by min(K, |relevant|)
- coverage: distinct items in the users' top-K lists / items in train
- diversity (intra-list): share of item pairs in a list whose categories differ
- novelty: mean self-information -log2(p) of the listed items, p = share of train users who had the item

Every evaluated user counts, also with an empty or short list (their hits are 0).
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

METRICS = ("precision", "recall", "ndcg", "hit_rate", "map", "coverage", "diversity", "novelty")
AVERAGED = tuple(m for m in METRICS if m != "coverage")     # means over users; coverage is over the lists


def ideal_dcg(n_hits: F.Column) -> F.Column:
    """Sum of 1 / log2(i + 1) for i = 1..n_hits (0 when n_hits is 0)."""
    ranks = F.sequence(F.lit(1), F.greatest(n_hits, F.lit(1)))
    total = F.aggregate(ranks, F.lit(0.0), lambda acc, i: acc + 1.0 / F.log2(i + 1))
    return F.when(n_hits > 0, total).otherwise(F.lit(0.0))


def per_user(recs: DataFrame, relevant: DataFrame, k: int, categories: DataFrame | None = None,
             novelty: DataFrame | None = None) -> DataFrame:
    """One row of metrics per evaluated user.

    Args:
        recs: user_id, item_id, rank (1 = best); ranks need not be contiguous per user.
        relevant: user_id, item_id of the test window; its users are the evaluated users.
        k: list length cut.
        categories: item_id, category (for diversity); optional.
        novelty: item_id, novelty (self-information); optional, unknown items get the maximum.

    Returns:
        user_id, n_relevant, n_listed, hits, precision, recall, ndcg, hit_rate, map,
        diversity (null for lists under 2 items), novelty (null for empty lists).
    """
    relevant = relevant.select("user_id", "item_id").distinct()
    n_rel = relevant.groupBy("user_id").agg(F.count(F.lit(1)).alias("n_relevant"))
    in_order = Window.partitionBy("user_id").orderBy("rank", "item_id")
    top = (recs.join(n_rel.select("user_id"), "user_id")
           .withColumn("_pos", F.row_number().over(in_order)).filter(F.col("_pos") <= k))
    labelled = (top.join(relevant.withColumn("_hit", F.lit(1)), ["user_id", "item_id"], "left")
                .fillna(0, ["_hit"])
                .withColumn("_cum", F.sum("_hit").over(in_order.rowsBetween(Window.unboundedPreceding, 0))))
    if novelty is not None:
        most = novelty.agg(F.max("novelty")).first()[0] or 0.0
        labelled = labelled.join(F.broadcast(novelty.select("item_id", "novelty")), "item_id", "left") \
            .fillna(float(most), ["novelty"])
    else:
        labelled = labelled.withColumn("novelty", F.lit(None).cast("double"))
    lists = labelled.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("n_listed"),
        F.sum("_hit").alias("hits"),
        F.sum(F.col("_hit") / F.log2(F.col("_pos") + 1)).alias("_dcg"),
        F.sum(F.col("_hit") * F.col("_cum") / F.col("_pos")).alias("_ap"),
        F.avg("novelty").alias("novelty"),
    )
    users = n_rel.join(lists, "user_id", "left").fillna(0, ["n_listed", "hits", "_dcg", "_ap"])
    if categories is not None:
        users = users.join(_diversity(top, categories), "user_id", "left")
    else:
        users = users.withColumn("diversity", F.lit(None).cast("double"))
    cut = F.least(F.lit(k), F.col("n_relevant"))
    return users.select(
        "user_id", "n_relevant", "n_listed", "hits",
        (F.col("hits") / k).alias("precision"),
        (F.col("hits") / F.col("n_relevant")).alias("recall"),
        (F.col("_dcg") / ideal_dcg(cut)).alias("ndcg"),
        (F.col("hits") > 0).cast("double").alias("hit_rate"),
        (F.col("_ap") / cut).alias("map"),
        "diversity", "novelty",
    )


def _diversity(top: DataFrame, categories: DataFrame) -> DataFrame:
    """Per user: 1 - sum_c n_c (n_c - 1) / (L (L - 1)) over the list's category counts."""
    per_category = (top.join(categories.select("item_id", "category"), "item_id", "left")
                    .fillna("", ["category"])
                    .groupBy("user_id", "category").agg(F.count(F.lit(1)).alias("n")))
    return per_category.groupBy("user_id").agg(
        F.sum("n").alias("_len"), F.sum(F.col("n") * (F.col("n") - 1)).alias("_same")
    ).select("user_id", F.when(F.col("_len") > 1, 1 - F.col("_same") / (F.col("_len") * (F.col("_len") - 1)))
             .alias("diversity"))


def summarize(users: DataFrame, recs: DataFrame, k: int, n_train_items: int) -> dict:
    """Averages of per_user() over users, plus catalog coverage of the top-K lists; two Spark jobs."""
    empty = {"users": 0, **{m: None for m in AVERAGED}, "coverage": 0.0}
    return summarize_groups(users, recs, k, n_train_items, lambda user_id: F.lit("")).get("", empty)


def summarize_groups(users: DataFrame, recs: DataFrame, k: int, n_train_items: int,
                     group: Callable[[Column], Column]) -> dict[str, dict]:
    """summarize() for each group of users at once (`group`: user_id column -> the group's name); two Spark jobs.

    For scoring several lists in one pass: each list's users keyed as (list, user) ids.
    """
    means = users.groupBy(group(F.col("user_id")).alias("_group")).agg(
        F.count(F.lit(1)).alias("users"),
        *[F.avg(m).alias(m) for m in AVERAGED],
    ).collect()
    in_order = Window.partitionBy("user_id").orderBy("rank", "item_id")
    listed = (recs.join(users.select("user_id"), "user_id")
              .withColumn("_pos", F.row_number().over(in_order)).filter(F.col("_pos") <= k)
              .select(group(F.col("user_id")).alias("_group"), "item_id").distinct()
              .groupBy("_group").count().collect())
    covered = {row["_group"]: row["count"] for row in listed}
    found = {}
    for row in means:
        values = {key: value for key, value in row.asDict().items() if key != "_group"}
        values["coverage"] = covered.get(row["_group"], 0) / n_train_items if n_train_items else 0.0
        found[row["_group"]] = {key: (round(value, 6) if isinstance(value, float) else value)
                                for key, value in values.items()}
    return found


def list_quality(recs: DataFrame, catalog: DataFrame, k: int) -> dict:
    """What every served user list looks like at K, without a holdout: catalog coverage (distinct listed items /
    in-stock catalog items) and mean intra-list diversity. recs: user_id, item_id, rank; catalog: item_id,
    category, in_stock. Three Spark jobs (two counts and one average); nothing per user reaches the driver."""
    in_order = Window.partitionBy("user_id").orderBy("rank", "item_id")
    top = recs.withColumn("_pos", F.row_number().over(in_order)).filter(F.col("_pos") <= k).cache()
    listed = top.select("item_id").distinct().join(catalog.filter("in_stock").select("item_id"), "item_id").count()
    in_stock = catalog.filter("in_stock").count()
    row = _diversity(top, catalog).agg(F.count(F.lit(1)).alias("users"), F.avg("diversity").alias("diversity")).first()
    top.unpersist()
    return {"k": k, "users": int(row["users"]), "coverage": round(listed / in_stock, 6) if in_stock else 0.0,
            "diversity": round(float(row["diversity"] or 0.0), 6)}


def item_novelty(train: DataFrame) -> DataFrame:
    """item_id, novelty = -log2(users who had the item / users in train), from (user_id, item_id) rows."""
    pairs = train.select("user_id", "item_id").distinct()
    n_users = pairs.select("user_id").distinct().count()
    return pairs.groupBy("item_id").agg(F.count(F.lit(1)).alias("_n")).select(
        "item_id", (-F.log2(F.col("_n") / F.lit(float(max(n_users, 1))))).alias("novelty"))
