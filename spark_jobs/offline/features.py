"""Features per (user, candidate item), computed in Spark from what is known at a cutoff.

Everything here reads only the view's events before its cutoff (spark_jobs.offline.split.as_of), so
training features computed at a past cutoff never see the label window after it.

- per source s: s_score, s_rank, s_norm (score / the user's best score from s); n_sources
- every candidate, not only a source's own top items: als_dot (the ALS factors' inner product), when an ALS
  source is configured
- item:  item_pop_all, item_pop_recent, item_pop_week, item_trend, item_buyers, item_age_days, item_price
- user:  user_events, user_items, user_purchases, user_orders, user_days_since_last, user_tenure_days,
         user_mean_price, user_repeat_share
- user x item: ui_weight, ui_events, ui_views, ui_carts, ui_purchases, ui_quantity, ui_purchase_days,
         ui_days_since_last, ui_days_since_first, ui_last_event, ui_overdue
- user x category / brand: uc_share, uc_purchases, ub_share; price_ratio
Missing values stay null (NaN for XGBoost, which learns where they go); so do ratios over zero.
"""

from __future__ import annotations

import datetime as dt
from functools import reduce

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from conf import Config
from models.rerank import RERANK_COLUMNS
from spark_jobs.offline import sources
from spark_jobs.offline.split import Split, midnight
from spark_jobs.popularity import item_scores

EVENT_CODES = {"view": 1, "add_to_cart": 2, "remove_from_cart": 3, "purchase": 4}
ITEM = ("item_pop_all", "item_pop_recent", "item_pop_week", "item_trend", "item_buyers", "item_age_days",
        "item_price")
USER = ("user_events", "user_items", "user_purchases", "user_orders", "user_days_since_last", "user_tenure_days",
        "user_mean_price", "user_repeat_share")
USER_ITEM = ("ui_weight", "ui_events", "ui_views", "ui_carts", "ui_purchases", "ui_quantity", "ui_purchase_days",
             "ui_days_since_last", "ui_days_since_first", "ui_last_event", "ui_overdue")
ITEM_ATTRIBUTES = ("category", "brand", "in_stock", "promoted", "created_at", "margin_tier")   # for the rules
AFFINITY = ("uc_share", "uc_purchases", "ub_share", "price_ratio")
# the sources whose fit returns (user factors, item factors): the ALS engines of the registry
FACTOR_SOURCES = tuple(s.name for s in sources.SOURCES if s.recommend is sources.from_factors)


def factor_source(config: Config) -> str | None:
    """The first configured ALS source: its factors score every candidate (als_dot)."""
    return next((s for s in config.ranking.sources if s in FACTOR_SOURCES), None)


def names(config: Config) -> list[str]:
    """The feature columns, in the order the ranker sees them."""
    per_source = [f"{s}_{kind}" for s in config.ranking.sources for kind in ("score", "rank", "norm")]
    dense = ["als_dot"] if factor_source(config) else []
    return per_source + ["n_sources", *dense, *ITEM, *USER, *USER_ITEM, *AFFINITY]


def days_before(cutoff: dt.date, column: str) -> F.Column:
    return (F.unix_timestamp(F.lit(midnight(cutoff))) - F.unix_timestamp(column)) / 86400.0


def item_table(view: Split, recent: DataFrame, trending: DataFrame, config: Config) -> DataFrame:
    """One row per catalog item: the item features and the item attributes the re-ranking rules read."""
    weights = config.interactions.weights
    all_time = item_scores(view.train_events, None, midnight(view.cutoff), weights)
    week = item_scores(view.train_events, midnight(view.cutoff - dt.timedelta(days=7)), midnight(view.cutoff), weights)
    stats = view.train_events.groupBy("item_id").agg(
        F.countDistinct(F.when(F.col("event_type") == "purchase", F.col("user_id"))).cast("double")
        .alias("item_buyers"), F.min("event_time").alias("_first"))
    catalog = view.catalog.select("item_id", F.col("price").cast("double").alias("item_price"), *ITEM_ATTRIBUTES)
    first = F.least(F.col("_first"), F.col("created_at"))
    return (catalog.join(stats, "item_id", "left")
            .join(all_time.withColumnRenamed("score", "item_pop_all"), "item_id", "left")
            .join(recent.withColumnRenamed("score", "item_pop_recent"), "item_id", "left")
            .join(week.withColumnRenamed("score", "item_pop_week"), "item_id", "left")
            .join(trending.withColumnRenamed("score", "item_trend"), "item_id", "left")
            .withColumn("item_age_days", days_before(view.cutoff, first))
            .select("item_id", *ITEM, *ITEM_ATTRIBUTES))


def user_item_table(view: Split) -> DataFrame:
    """Per (user, item) history: the interactions plus purchase days and the last event's type."""
    code = F.create_map(*[x for k, v in EVENT_CODES.items() for x in (F.lit(k), F.lit(v))])[F.col("event_type")]
    per_pair = view.train_events.groupBy("user_id", "item_id").agg(
        F.countDistinct(F.when(F.col("event_type") == "purchase", F.to_date("event_time"))).cast("double")
        .alias("ui_purchase_days"),
        F.max_by(code, "event_time").cast("double").alias("ui_last_event"))
    since_last = days_before(view.cutoff, "last_time")
    span = (F.unix_timestamp("last_time") - F.unix_timestamp("first_time")) / 86400.0
    interval = span / (F.col("ui_purchase_days") - 1)
    return (view.train.join(per_pair, ["user_id", "item_id"], "left")
            .select("user_id", "item_id", F.col("weight").alias("ui_weight"),
                    *[F.col(c).cast("double").alias(a) for c, a in (
                        ("n_events", "ui_events"), ("n_views", "ui_views"), ("n_carts", "ui_carts"),
                        ("n_purchases", "ui_purchases"), ("quantity_purchased", "ui_quantity"))],
                    "ui_purchase_days", since_last.alias("ui_days_since_last"),
                    days_before(view.cutoff, "first_time").alias("ui_days_since_first"), "ui_last_event",
                    F.when(F.col("ui_purchase_days") >= 2, since_last / F.greatest(interval, F.lit(1.0)))
                    .alias("ui_overdue")))


def user_table(view: Split, pairs: DataFrame, wanted: DataFrame) -> DataFrame:
    purchases = view.train_events.filter(F.col("event_type") == "purchase").join(wanted, "user_id", "left_semi")
    orders = purchases.groupBy("user_id").agg(
        F.countDistinct("order_id").cast("double").alias("user_orders"),
        F.avg("price").alias("user_mean_price"))
    totals = pairs.groupBy("user_id").agg(
        F.sum("ui_events").alias("user_events"), F.count(F.lit(1)).cast("double").alias("user_items"),
        F.sum("ui_purchases").alias("user_purchases"),
        F.min("ui_days_since_last").alias("user_days_since_last"),
        F.max("ui_days_since_first").alias("user_tenure_days"),
        (F.sum(F.when(F.col("ui_purchase_days") >= 2, 1.0).otherwise(0.0))
         / F.greatest(F.sum(F.when(F.col("ui_purchases") > 0, 1.0).otherwise(0.0)), F.lit(1.0)))
        .alias("user_repeat_share"))
    return totals.join(orders, "user_id", "left").select("user_id", *USER)


def affinity_tables(view: Split, pairs: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(user, category) and (user, brand) shares of the user's interaction weight."""
    meta = view.catalog.select("item_id", "category", "brand")
    history = pairs.join(meta, "item_id")
    user = Window.partitionBy("user_id")
    by_category = (history.filter(F.col("category").isNotNull()).groupBy("user_id", "category")
                   .agg(F.sum("ui_weight").alias("_w"), F.sum("ui_purchases").alias("uc_purchases"))
                   .select("user_id", "category", F.try_divide(F.col("_w"), F.sum("_w").over(user)).alias("uc_share"),
                           "uc_purchases"))
    by_brand = (history.filter(F.col("brand").isNotNull()).groupBy("user_id", "brand")
                .agg(F.sum("ui_weight").alias("_w"))
                .select("user_id", "brand", F.try_divide(F.col("_w"), F.sum("_w").over(user)).alias("ub_share")))
    return by_category, by_brand


def user_side(view: Split, pairs: DataFrame, wanted: DataFrame) -> DataFrame:
    """One row per user of `wanted` (user_id; `pairs` holds only theirs): the user features, and the user's items,
    categories and brands as maps (item -> ui features, category -> (uc_share, uc_purchases), brand -> ub_share).

    Keyed by user_id alone, so the candidate frame joins it on its user partitioning: the
    (user, item), (user, category) and (user, brand) tables would each shuffle the whole frame.
    A missing key reads null, as an unmatched left join did.
    """
    by_category, by_brand = affinity_tables(view, pairs)
    ui = pairs.groupBy("user_id").agg(F.map_from_entries(F.collect_list(F.struct(
        "item_id", F.struct(*USER_ITEM)))).alias("_ui"))
    uc = by_category.groupBy("user_id").agg(F.map_from_entries(F.collect_list(F.struct(
        "category", F.struct("uc_share", "uc_purchases")))).alias("_uc"))
    ub = by_brand.groupBy("user_id").agg(F.map_from_entries(F.collect_list(F.struct(
        "brand", F.col("ub_share")))).alias("_ub"))
    return (user_table(view, pairs, wanted).join(ui, "user_id", "left").join(uc, "user_id", "left")
            .join(ub, "user_id", "left"))


def small(table: DataFrame, rows: int, limit: int) -> DataFrame:
    """`table` marked for broadcast when it holds at most `limit` rows (an items-sized table; see
    ranking.broadcast_max_items), else as is (a shuffle join)."""
    return F.broadcast(table) if rows <= limit else table


def dot(left: str, right: str, length: int) -> F.Column:
    """The inner product of two array<float> columns of `length` elements (null when either is).

    Spelled out term by term, so that it is generated code with the rest of the projection: the same
    float products summed left to right in double as aggregate(zip_with(...)), which Spark interprets
    (the final features of the synthetic sample, 610,854 rows: 19 s against 22-28 s, every value equal).
    """
    if length == 0:
        return F.lit(None).cast("double")
    return reduce(lambda total, i: total + F.get(left, i) * F.get(right, i), range(length), F.lit(0.0))


def factor_length(item_factors: DataFrame) -> int:
    """The length of the fitted factors (one row's array: the ALS search fits several lengths)."""
    first = item_factors.select(F.size("factors")).first()
    return first[0] if first else 0


def build(candidates: DataFrame, view: Split, recent: DataFrame, trending: DataFrame, config: Config,
          factors: tuple[DataFrame, DataFrame] | None = None) -> DataFrame:
    """candidates (spark_jobs.offline.candidates.merged) + every feature + the re-ranker's item attributes.

    `factors`: the fitted ALS source's (user, item) factors, for als_dot (null without them).

    The candidate frame is shuffled once, by user: the per-user windows, then one join with the
    user-side table (user_side, for the frame's users only) on the same key; the item-sized tables
    are broadcast (up to ranking.broadcast_max_items items).
    """
    user = Window.partitionBy("user_id")
    absent = [s for s in config.ranking.sources if f"{s}_score" not in candidates.columns]
    frame = candidates.select("*", *[F.lit(None).cast("double").alias(f"{s}_{kind}")
                                     for s in absent for kind in ("score", "rank")])
    frame = frame.select("*", *[F.try_divide(F.col(f"{s}_score"), F.max(F.abs(f"{s}_score")).over(user))
                                .alias(f"{s}_norm") for s in config.ranking.sources])    # one window pass
    # every user-side table only for the users with candidates (a label window's sample, the holdout's users):
    # a user's features read only that user's rows, so they are the same as computed over everyone
    wanted = candidates.select("user_id").distinct()
    pairs = user_item_table(view).join(wanted, "user_id", "left_semi").cache()
    limit = config.ranking.broadcast_max_items
    n_items = view.catalog.count()
    items = item_table(view, recent, trending, config)
    users = user_side(view, pairs, wanted)
    if factors is not None:
        items = items.join(factors[1].select("item_id", F.col("factors").alias("_if")), "item_id", "left")
        users = users.join(factors[0].select("user_id", F.col("factors").alias("_uf")), "user_id", "left")
    frame = (frame.join(small(items, n_items, limit), "item_id", "left")
             .join(users, "user_id", "left")
             .select("*", *[F.col("_ui")[F.col("item_id")][c].alias(c) for c in USER_ITEM],
                     F.col("_uc")[F.col("category")]["uc_share"].alias("uc_share"),
                     F.col("_uc")[F.col("category")]["uc_purchases"].alias("uc_purchases"),
                     F.col("_ub")[F.col("brand")].alias("ub_share"))
             .withColumn("price_ratio", F.try_divide(F.col("item_price"), F.col("user_mean_price")))
             .withColumn("als_dot", dot("_uf", "_if", factor_length(factors[1])) if factors is not None
                         else F.lit(None).cast("double"))
             .withColumn("purchased", F.coalesce(F.col("ui_purchases") > 0, F.lit(False))))
    return frame.select("user_id", "item_id", *[F.col(c).cast("double") for c in names(config)],
                        *RERANK_COLUMNS, "source", "anchor")
