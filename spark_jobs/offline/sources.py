"""The candidate sources, one registry: each source is one object used by the candidate generator
(spark_jobs/offline/candidates.py), the offline evaluation and the quality gate's baselines.

A Source has a name, the reason code its items are served with, `fit` (the items-sized model
fitted once on a view: what is known at a cutoff) and `recommend` (every given user's top-n
items from that model, computed in Spark; None where the source does not apply, e.g. buy_again
when the user's own items are excluded). Rows: user_id, item_id, score, rank, anchor (the user's
item or category behind a suggestion, for the reason code; null when none).

The same source serves two uses, told apart by Context.ranking:
- ranking (candidates for the ranker): recent popularity over popularity.recent_days; item_knn
  and content start from the user's ranking.recent_items most recent items; buy_again lists
  only the user's purchased items;
- baseline (eval, gate): recent popularity over eval.recent_days; item_knn and content start
  from the user's whole history; buy_again is padded with recent popularity (../shared/EVALUATION.md).

Adding a source: one Source(...) in SOURCES below (plus its tests). Its name becomes valid in
ranking.sources, eval.sources and gate.baselines (check_config), it gets feature columns
<name>_score/_rank/_norm, and its reason code reaches the served lists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from conf import Config, ConfigError
from models import ease, neighbour_scores
from models.als import train as train_als
from models.ann import retrieve
from models.content import neighbours as content_neighbours
from models.topn import LIST_COLUMNS, from_global, from_neighbours, pad, top_n, without_seen
from spark_jobs.fbt_pairs import transform as fbt_pairs
from spark_jobs.item_similarity import transform as item_similarity
from spark_jobs.offline.split import EvaluationError, Split, midnight
from spark_jobs.popularity import item_scores, trending_scores

NEIGHBOURS_DDL = "item_id string, neighbour_id string, score float, rank int"
RANKED = "ranked"      # eval's name for the whole pipeline's final lists (not a source)


@dataclass
class Context:
    """What a source is fitted on and listed for: a view, the configuration, and the use."""

    spark: SparkSession
    view: Split
    config: Config
    ranking: bool          # True: candidates for the ranker; False: baseline lists (eval, gate)

    @cached_property
    def seen(self) -> DataFrame:
        return self.view.train.select("user_id", "item_id")

    @cached_property
    def recent(self) -> DataFrame:
        """item_id, score: recent popularity (popularity.recent_days for ranking, eval.recent_days otherwise)."""
        days = self.config.popularity.recent_days if self.ranking else self.config.eval.recent_days
        return popular(self.view, self.config, days).cache()

    @cached_property
    def trending(self) -> DataFrame:
        """item_id, score: the trend ratio as of the day before the cutoff."""
        return trending_scores(self.view.train_events, self.view.cutoff - dt.timedelta(days=1),
                               self.config.popularity, self.config.interactions.weights).cache()

    @cached_property
    def categories(self) -> DataFrame:
        return self.view.catalog.select("item_id", F.coalesce("category", F.lit("")).alias("category"))

    def history(self, users: DataFrame) -> DataFrame:
        return self.view.train.join(users, "user_id")


Fit = Callable[[Context], object]
Recommend = Callable[[Context, object, DataFrame, int, bool], DataFrame | None]


@dataclass(frozen=True)
class Source:
    name: str
    reason: str            # reason code template; "{}" takes the anchor ("similar_to:{}")
    fit: Fit
    recommend: Recommend


def nothing(ctx: Context) -> None:
    """For sources that read only the view (and Context's shared tables)."""
    return None


def no_anchor(rows: DataFrame | None) -> DataFrame | None:
    return None if rows is None else rows.withColumn("anchor", F.lit(None).cast("string"))


def popular(view: Split, config: Config, days: int | None) -> DataFrame:
    """item_id, score over the view's events (all of them, or the last `days`)."""
    start = midnight(view.cutoff - dt.timedelta(days=days)) if days else None
    return item_scores(view.train_events, start, midnight(view.cutoff), config.interactions.weights)


def buy_again_lists(view: Split, users: DataFrame, n: int) -> DataFrame:
    """The user's own items: most purchases first, then most events, then most recent."""
    order = Window.partitionBy("user_id").orderBy(F.col("n_purchases").desc(), F.col("n_events").desc(),
                                                  F.col("last_time").desc(), "item_id")
    own = (view.train.join(users, "user_id").withColumn("rank", F.row_number().over(order))
           .filter(F.col("rank") <= n))
    return own.select("user_id", "item_id", F.col("n_purchases").cast("double").alias("score"), "rank")


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


# ---- popularity ----

def fit_all_time(ctx: Context) -> DataFrame:
    return popular(ctx.view, ctx.config, None).cache()


def fit_recent(ctx: Context) -> DataFrame:
    return ctx.recent


def from_scores(ctx: Context, scores: DataFrame, users: DataFrame, n: int, exclude_seen: bool) -> DataFrame:
    return no_anchor(from_global(users, scores, ctx.seen, n, exclude_seen))


def in_categories(scores_of: Callable[[Context], DataFrame]) -> Recommend:
    def recommend(ctx: Context, model, users: DataFrame, n: int, exclude_seen: bool) -> DataFrame:
        return in_user_categories(ctx.history(users), scores_of(ctx), ctx.categories, ctx.seen, n,
                                  ctx.config.ranking.user_categories, exclude_seen)
    return recommend


# ---- the user's own items ----

def buy_again(ctx: Context, model, users: DataFrame, n: int, exclude_seen: bool) -> DataFrame | None:
    if exclude_seen:
        return None
    own = buy_again_lists(ctx.view, users, n)
    if ctx.ranking:
        purchased = ctx.view.train.filter(F.col("n_purchases") > 0).select("user_id", "item_id")
        return no_anchor(own.join(purchased, ["user_id", "item_id"]))
    return no_anchor(pad(own, from_global(users, ctx.recent, ctx.seen, n, False), n))


# ---- item neighbours ----

def fit_item_knn(ctx: Context) -> DataFrame:
    return item_similarity(ctx.view.train_events, ctx.config.similarity, ctx.config.cooccurrence.chunk_products) \
        .cache()


def fit_fbt(ctx: Context) -> DataFrame:
    return fbt_pairs(ctx.view.train_events, ctx.config.fbt, ctx.config.cooccurrence.chunk_products).select(
        "item_id", F.col("other_id").alias("neighbour_id"), "score").cache()


def fit_content(ctx: Context) -> DataFrame:
    items = ctx.view.catalog.join(ctx.view.train.select("item_id").distinct(), "item_id") \
        .select("item_id", "title", "category", "brand", "price").orderBy("item_id").toPandas()
    return ctx.spark.createDataFrame(content_neighbours(items, ctx.config.content, ctx.config.ann),
                                     NEIGHBOURS_DDL).cache()


def from_history(ctx: Context, neighbours: DataFrame, users: DataFrame, n: int, exclude_seen: bool) -> DataFrame:
    """Neighbours of the user's items: the ranking.recent_items most recent ones (ranking), or all (baseline)."""
    history = ctx.history(users)
    if ctx.ranking:
        latest = Window.partitionBy("user_id").orderBy(F.col("last_time").desc(), "item_id")
        history = history.withColumn("_r", F.row_number().over(latest)).filter(
            F.col("_r") <= ctx.config.ranking.recent_items)
    return neighbour_lists(ctx, history, neighbours, n, exclude_seen)


def from_purchases(ctx: Context, neighbours: DataFrame, users: DataFrame, n: int, exclude_seen: bool) -> DataFrame:
    bought = ctx.history(users).filter(F.col("n_purchases") > 0)
    return neighbour_lists(ctx, bought, neighbours, n, exclude_seen)


def neighbour_lists(ctx: Context, history: DataFrame, neighbours: DataFrame, n: int, exclude_seen: bool) -> DataFrame:
    """The neighbours' lists with anchors: scored on the executors with the neighbour table broadcast while it
    holds at most ranking.broadcast_max_neighbours rows (models/neighbour_scores.py), else with a shuffle join."""
    settings = ctx.config.ranking
    if neighbours.count() <= settings.broadcast_max_neighbours:
        return neighbour_scores.from_neighbours(history, neighbours, n, exclude_seen, ctx.seen,
                                                settings.neighbour_slice_products)
    return from_neighbours(history, neighbours, n, exclude_seen, anchor=True, seen=ctx.seen)


# ---- latent factors and item-item regression ----

def fit_als(engine: str | None) -> Fit:
    def fit(ctx: Context) -> tuple[DataFrame, DataFrame]:
        factors = train_als(ctx.spark, ctx.view.train, ctx.config.als, ctx.config.seed, engine=engine)
        return factors.users.cache(), factors.items.cache()
    return fit


def from_factors(ctx: Context, factors, users: DataFrame, n: int, exclude_seen: bool) -> DataFrame:
    user_factors, item_factors = factors
    return no_anchor(retrieve(ctx.spark, user_factors.join(users, "user_id"), item_factors, n, ctx.config.ann,
                              ctx.seen if exclude_seen else None))


def fit_ease(ctx: Context):
    return ease.fit(ctx.view.train, ctx.config.ease, ctx.config.cooccurrence.chunk_products,
                    max(ctx.config.interactions.weights.values()))


def from_ease(ctx: Context, model, users: DataFrame, n: int, exclude_seen: bool) -> DataFrame | None:
    if model is None:       # over ease.max_items (logged by ease.fit)
        return None
    return no_anchor(ease.recommend(ctx.spark, ctx.view.train, model, n, exclude_seen, users))


SOURCES: tuple[Source, ...] = (
    Source("als", "for_you", fit_als(None), from_factors),              # als.engine decides
    Source("als_implicit", "for_you", fit_als("implicit"), from_factors),
    Source("als_spark", "for_you", fit_als("spark"), from_factors),
    Source("ease", "for_you", fit_ease, from_ease),
    Source("item_knn", "similar_to:{}", fit_item_knn, from_history),
    Source("content", "similar_to:{}", fit_content, from_history),
    Source("fbt", "bought_with:{}", fit_fbt, from_purchases),
    Source("buy_again", "buy_again", nothing, buy_again),
    Source("category_popular", "popular_in:{}", nothing, in_categories(lambda ctx: ctx.recent)),
    Source("category_trending", "trending_in:{}", nothing, in_categories(lambda ctx: ctx.trending)),
    Source("popular_recent", "popular", fit_recent, from_scores),
    Source("popular_all_time", "popular", fit_all_time, from_scores),
)
BY_NAME = {source.name: source for source in SOURCES}
REASONS = {source.name: source.reason for source in SOURCES}   # the ranker's reason codes


def get(name: str) -> Source:
    if name not in BY_NAME:
        raise EvaluationError(f"unknown source {name!r}; known: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def check_config(config: Config) -> Config:
    """Every source named in the configuration exists (ranking.sources, eval.sources, gate.baselines)."""
    named = {"ranking.sources": config.ranking.sources, "gate.baselines": config.gate.baselines,
             "eval.sources": [s for s in config.eval.sources if s != RANKED]}
    for key, names in named.items():
        unknown = sorted(set(names) - set(BY_NAME))
        if unknown:
            raise ConfigError(f"{key}: unknown source(s) {unknown}; known: {', '.join(BY_NAME)}")
    if not config.ranking.sources:
        raise ConfigError(f"ranking.sources is empty; name at least one of {', '.join(BY_NAME)}")
    return config

