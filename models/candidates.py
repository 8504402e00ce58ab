"""Candidates per user from several sources, merged into one row per (user, item) with provenance.

Sources (ranking.sources), each the top ranking.candidates_per_source items of a user:
- als:               ALS factors + faiss (models/als, models/ann)
- ease:              EASE item-item regression (models/ease; skipped above ease.max_items)
- item_knn:          co-occurrence neighbours of the user's ranking.recent_items most recent items,
                     weighted by the interaction weight (event type and recency decay)
- fbt:               bought-together partners of the user's purchases
- buy_again:         the user's own purchased items (most purchases, then most recent)
- content:           content neighbours of the user's recent items
- category_popular / category_trending: recent popularity / trend in the user's top categories
- popular_recent:    the recent best sellers
Every list is computed in Spark per user; the models fitted on the driver are items-sized.
The merged frame has <source>_score and <source>_rank (null when absent), n_sources, and the
best-ranked source with its anchor item or category (provenance for the reason code).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from conf import Config
from models.evaluation import Split, buy_again, midnight
from models.topn import LIST_COLUMNS, from_global, from_neighbours, top_n, without_seen

log = logging.getLogger(__name__)
PROVENANCE = ("source", "anchor")


@dataclass
class Fitted:
    """The per-cutoff models behind the sources (fitted once, used for both list modes)."""

    neighbours: dict[str, DataFrame]      # item_knn, fbt, content: item_id, neighbour_id, score
    als: tuple[DataFrame, DataFrame] | None  # user factors, item factors
    ease: tuple | None
    recent: DataFrame                     # item_id, score: recent popularity
    trending: DataFrame                   # item_id, score: trend ratio
    categories: DataFrame                 # item_id, category


def fit(spark: SparkSession, view: Split, config: Config) -> Fitted:
    """Fit every configured source on what is known at view.cutoff."""
    from spark_jobs.fbt_pairs import transform as fbt
    from spark_jobs.item_similarity import transform as similarity
    from spark_jobs.popularity import item_scores, trending_scores

    wanted = set(config.ranking.sources)
    day_before = view.cutoff - dt.timedelta(days=1)
    neighbours = {}
    if "item_knn" in wanted:
        neighbours["item_knn"] = similarity(view.train_events, config.similarity).cache()
    if "fbt" in wanted:
        neighbours["fbt"] = fbt(view.train_events, config.fbt).select(
            "item_id", F.col("other_id").alias("neighbour_id"), "score").cache()
    if "content" in wanted:
        from models.content import neighbours as content_neighbours

        items = view.catalog.join(view.train.select("item_id").distinct(), "item_id") \
            .select("item_id", "title", "category", "brand", "price").orderBy("item_id").toPandas()
        neighbours["content"] = spark.createDataFrame(
            content_neighbours(items, config.content, config.ann),
            "item_id string, neighbour_id string, score float, rank int").cache()
    als = None
    if "als" in wanted:
        from models.als import train

        factors = train(spark, view.train, config.als, config.seed)
        als = (factors.users.cache(), factors.items.cache())
    ease_model = None
    if "ease" in wanted:
        from models import ease

        ease_model = ease.fit(view.train, config.ease, max(config.interactions.weights.values()))
    recent = item_scores(view.train_events, midnight(view.cutoff - dt.timedelta(days=config.popularity.recent_days)),
                         midnight(view.cutoff), config.interactions.weights).cache()
    trending = trending_scores(view.train_events, day_before, config.popularity, config.interactions.weights).cache()
    return Fitted(neighbours, als, ease_model, recent, trending,
                  view.catalog.select("item_id", F.coalesce("category", F.lit("")).alias("category")))


def source_list(spark: SparkSession, name: str, fitted: Fitted, view: Split, users: DataFrame, config: Config,
                exclude_seen: bool) -> DataFrame | None:
    """user_id, item_id, score, rank, anchor of one source (None: not available here)."""
    n = config.ranking.candidates_per_source
    seen = view.train.select("user_id", "item_id")
    history = view.train.join(users, "user_id")
    if name in ("item_knn", "content"):
        latest = Window.partitionBy("user_id").orderBy(F.col("last_time").desc(), "item_id")
        recent = history.withColumn("_r", F.row_number().over(latest)).filter(
            F.col("_r") <= config.ranking.recent_items)
        return from_neighbours(recent, fitted.neighbours[name], n, exclude_seen, anchor=True, seen=seen)
    if name == "fbt":
        bought = history.filter(F.col("n_purchases") > 0)
        return from_neighbours(bought, fitted.neighbours[name], n, exclude_seen, anchor=True, seen=seen)
    if name == "buy_again":
        if exclude_seen:
            return None
        own = buy_again(view, users, n)
        return own.join(view.train.filter(F.col("n_purchases") > 0).select("user_id", "item_id"),
                        ["user_id", "item_id"]).withColumn("anchor", F.lit(None).cast("string"))
    if name == "als":
        from models.ann import retrieve

        if fitted.als is None:
            return None
        lists = retrieve(spark, fitted.als[0].join(users, "user_id"), fitted.als[1], n, config.ann,
                         seen if exclude_seen else None)
        return lists.withColumn("anchor", F.lit(None).cast("string"))
    if name == "ease":
        from models import ease

        if fitted.ease is None:
            return None
        return ease.recommend(spark, view.train, fitted.ease, n, exclude_seen, users) \
            .withColumn("anchor", F.lit(None).cast("string"))
    if name in ("category_popular", "category_trending"):
        scores = fitted.recent if name == "category_popular" else fitted.trending
        return in_user_categories(history, scores, fitted.categories, seen, n, config.ranking.user_categories,
                                  exclude_seen)
    if name == "popular_recent":
        return from_global(users, fitted.recent, seen, n, exclude_seen).withColumn(
            "anchor", F.lit(None).cast("string"))
    raise ValueError(f"unknown ranking source {name!r}")


def in_user_categories(history: DataFrame, scores: DataFrame, categories: DataFrame, seen: DataFrame, n: int,
                       top_categories: int, exclude_seen: bool) -> DataFrame:
    """Items of the user's top categories, scored by category share x the item's score (anchor = category)."""
    weights = (history.join(categories, "item_id").filter(F.col("category") != "")
               .groupBy("user_id", "category").agg(F.sum("weight").alias("_w")))
    user = Window.partitionBy("user_id")
    shares = (weights.withColumn("_share", F.try_divide(F.col("_w"), F.sum("_w").over(user)))
              .withColumn("_c", F.row_number().over(user.orderBy(F.col("_w").desc(), "category")))
              .filter(F.col("_c") <= top_categories))
    best_in_category = top_n(scores.join(categories, "item_id").withColumn(
        "score", F.try_divide(F.col("score"), F.max("score").over(Window.partitionBy("category")))), n, key="category")
    scored = shares.join(best_in_category.select("category", "item_id", F.col("score").alias("_s")), "category") \
        .select("user_id", "item_id", (F.col("_share") * F.col("_s")).alias("score"), F.col("category").alias("anchor"))
    if exclude_seen:
        scored = without_seen(scored, seen)
    return top_n(scored, n).select(*LIST_COLUMNS, "anchor")


def merged(spark: SparkSession, fitted: Fitted, view: Split, users: DataFrame, config: Config,
           exclude_seen: bool) -> DataFrame:
    """One row per (user, item): <source>_score, <source>_rank, n_sources, source, anchor."""
    lists = []
    for name in config.ranking.sources:
        rows = source_list(spark, name, fitted, view, users, config, exclude_seen)
        if rows is not None:
            lists.append(rows.select(*LIST_COLUMNS, "anchor", F.lit(name).alias("source")))
    every = reduce(DataFrame.unionByName, lists)
    columns = []
    for name in config.ranking.sources:
        mine = F.col("source") == name
        columns += [F.max(F.when(mine, F.col("score"))).cast("double").alias(f"{name}_score"),
                    F.min(F.when(mine, F.col("rank"))).cast("double").alias(f"{name}_rank")]
    best = F.min_by(F.struct(*PROVENANCE), F.col("rank") * 100 + source_priority(config))
    return (every.groupBy("user_id", "item_id")
            .agg(*columns, F.count(F.lit(1)).cast("double").alias("n_sources"), best.alias("_best"))
            .select("*", "_best.source", "_best.anchor").drop("_best"))


def source_priority(config: Config):
    """A column: the configured order of sources, to break rank ties when choosing the provenance."""
    return F.create_map(*[x for i, s in enumerate(config.ranking.sources) for x in (F.lit(s), F.lit(i))])[
        F.col("source")]
