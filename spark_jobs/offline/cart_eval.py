"""Cart completion offline: hide items of each test order, ask with the rest, score HR@k and MRR@k.

Protocol (README "Offline evaluation"): the bought-together pairs, popular lists and similar
items are built with the nightly jobs' own transforms from the events before the window's first
day. Each order of the window with at least two distinct purchased items (at most
fbt.max_order_items) is split by a seeded hash: cart.hide_share of its items (at least one)
are hidden, the rest (at most serve.max_list_items) is the cart. Every tier order in
cart.candidates is answered by models.cart.complete, the function the lookup server calls,
over the same lists the snapshot would hold (fbt, similar, popular; out-of-stock and unknown
items dropped after, as the server does). A hit: a hidden item among the first cart.k;
MRR: 1 / the first hidden item's position (0 beyond k).

choose(): the orders are compared on the validation window (cart.validation_days before the
cutoff) and the best by HR then MRR is named; the test window reports every order once.
Per-order work runs in Spark (applyInPandas by order); only the shop's one popular list
(popularity.top_n items) reaches the driver.
"""

from __future__ import annotations

import datetime as dt
import functools

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from conf import Config
from models import cart as cart_model
from spark_jobs import content, fbt_pairs, item_similarity, popularity
from spark_jobs.offline.split import midnight

ANSWERS = "order_id string, candidate int, cart array<string>, hidden array<string>, served array<string>"
POPULAR_LISTS = ("recent", "all_time", "trending")


def test_orders(events: DataFrame, start: dt.date, end: dt.date, config: Config) -> DataFrame:
    """order_id, item_id, hidden: the window's orders of 2+ items, split by a seeded hash."""
    window = events.filter((F.col("event_time") >= F.lit(midnight(start)))
                           & (F.col("event_time") < F.lit(midnight(end + dt.timedelta(days=1)))))
    lines = fbt_pairs.orders(window, config.fbt.max_order_items)
    in_order = Window.partitionBy("order_id")
    position = F.row_number().over(in_order.orderBy(F.xxhash64("order_id", "item_id", F.lit(config.seed)), "item_id"))
    size = F.count(F.lit(1)).over(in_order)
    hide = F.greatest(F.lit(1), F.floor(size * config.cart.hide_share))
    split = lines.select("order_id", "item_id", position.alias("_p"), size.alias("_n"), hide.alias("_h"))
    return (split.filter((F.col("_n") >= 2) & (F.col("_p") <= F.col("_h") + config.serve.max_list_items))
            .select("order_id", "item_id", (F.col("_p") <= F.col("_h")).alias("hidden"), "_p"))


def lists_as_of(spark: SparkSession, events: DataFrame, catalog: DataFrame, config: Config,
                cutoff: dt.date) -> dict[str, DataFrame]:
    """The lists a snapshot of the day before `cutoff` would serve: fbt, similar, popular (nightly transforms)."""
    before = events.filter(F.col("event_time") < F.lit(midnight(cutoff)))
    day = cutoff - dt.timedelta(days=1)
    chunk = config.cooccurrence.chunk_products
    fbt = fbt_pairs.transform(before, config.fbt, chunk).select("item_id", F.col("other_id").alias("neighbour_id"),
                                                                "score", "rank")
    similar = content.blend(item_similarity.transform(before, config.similarity, chunk),
                            content.transform(spark, catalog, config), config.content.blend, config.similarity.top_k)
    popular = popularity.transform(before, catalog, day, config.popularity, config.interactions.weights,
                                   config.interactions.lookback_days)
    known = catalog.select("item_id")                  # as the snapshot: only catalog items are listed
    neighbour = known.select(F.col("item_id").alias("neighbour_id"))
    return {"fbt": fbt.join(neighbour, "neighbour_id", "left_semi").cache(),
            "similar": similar.join(neighbour, "neighbour_id", "left_semi").cache(),
            "popular": popular.join(known, "item_id", "left_semi").cache()}


def request_rows(orders: DataFrame, lists: dict[str, DataFrame], catalog: DataFrame, config: Config,
                 n: int) -> DataFrame:
    """Per order, what the server would read: cart and hidden items, and the lists keyed by cart item or scope."""
    cart = orders.filter(~F.col("hidden"))
    scopes = catalog.select("item_id", popularity.category_prefix(config.popularity.category_depth).alias("scope"))
    similar = lists["similar"].withColumn("_kind", F.when(F.col("source") == "content", "content")
                                          .otherwise("similar"))
    fbt = lists["fbt"].withColumn("_kind", F.lit("fbt"))
    per_item = [cart.join(rows, "item_id").select(
        "order_id", F.col("_kind").alias("kind"), F.col("item_id").alias("key"), F.col("neighbour_id").alias("item_id"),
        F.col("score").cast("double")) for rows in (fbt, similar)]
    category = lists["popular"].filter((F.col("list") == config.cart.category_list) & (F.col("rank") <= n))
    cart_scopes = cart.join(scopes, "item_id", "left")
    by_scope = cart_scopes.select("order_id", "scope").filter(F.col("scope") != "").distinct().join(
        category, "scope").select("order_id", F.lit("category").alias("kind"), F.col("scope").alias("key"),
                                  "item_id", F.col("score").cast("double"))
    own = cart_scopes.select("order_id", F.lit("cart").alias("kind"), F.col("scope").alias("key"), "item_id",
                             F.col("_p").cast("double").alias("score"))
    hidden = orders.filter(F.col("hidden")).select("order_id", F.lit("hidden").alias("kind"), F.lit(None).alias("key"),
                                                   "item_id", F.lit(None).cast("double").alias("score"))
    rows = own.unionByName(hidden)
    for part in [*per_item, by_scope]:
        rows = rows.unionByName(part)
    return rows.join(servable(catalog), "item_id", "left").select(
        "order_id", "kind", "key", "item_id", "score", F.coalesce("blocked", F.lit(True)).alias("blocked"))


def servable(catalog: DataFrame) -> DataFrame:
    """item_id, blocked: what the server drops after completing a cart (out of stock; items not in the
    catalog are dropped too, being absent here)."""
    return catalog.select("item_id", F.coalesce(F.col("in_stock") == F.lit(False), F.lit(False)).alias("blocked"))


def popular_entries(popular: DataFrame, catalog: DataFrame, limit: int) -> list[tuple[str, float, str, bool]]:
    """The server's popular fallback: the first non-empty of recent, all-time, trending (popularity.top_n rows)."""
    for name in POPULAR_LISTS:
        rows = (popular.filter((F.col("list") == name) & (F.col("scope") == "all") & (F.col("rank") <= limit))
                .join(servable(catalog), "item_id", "left").orderBy("rank").collect())
        if rows:
            return [(r["item_id"], float(r["score"]), name, r["blocked"] is not False) for r in rows]
    return []


def answer(group: pd.DataFrame, popular: list, orders: list[list[str]], config: Config, n: int) -> list[list[str]]:
    """The served list for one order under each tier order (models.cart.complete, then the server's filters)."""
    mine = group[group["kind"] == "cart"].sort_values("score")       # the cart in its hashed order
    cart = list(mine["item_id"])
    scopes = [key if pd.notna(key) and key else None for key in mine["key"]]
    lists = {kind: {key: list(zip(rows["item_id"], rows["score"])) for key, rows in
                    group[group["kind"] == kind].sort_values(["score", "item_id"], ascending=[False, True])
                    .groupby("key", sort=False)} for kind in ("fbt", "similar", "content", "category")}
    blocked = set(group.loc[group["blocked"], "item_id"]) | {item for item, _, _, b in popular if b}
    tiers = {name: functools.cache(read) for name, read in {       # each tier read once for every order
        "bought_together": lambda: [(item, score, "bought_with") for item, score, _ in
                                    cart_model.bought_together(cart, lists["fbt"], n)],
        "category_popular": lambda: cart_model.category_popular(scopes, lists["category"]),
        "similar": lambda: cart_model.similar_to(cart, lists["similar"]),
        "content": lambda: cart_model.similar_to(cart, lists["content"]),
        "popular": lambda: [(item, score, reason) for item, score, reason, _ in popular],
    }.items()}
    k = config.cart.k
    served = []
    for order in orders:
        found, _ = cart_model.complete(cart, tiers, order, n)
        served.append([item for item, _, _ in found if item not in blocked][:k])
    return served


def answers(events: DataFrame, catalog: DataFrame, lists: dict[str, DataFrame], config: Config, start: dt.date,
            end: dt.date, orders: list[list[str]]) -> DataFrame:
    """order_id, candidate, cart, hidden, served: each test order of start..end under each tier order,
    answered from `lists` (lists_as_of(start))."""
    n = 2 * config.cart.k
    rows = request_rows(test_orders(events, start, end, config), lists, catalog, config, n)
    popular = popular_entries(lists["popular"], catalog, n + config.serve.max_list_items)

    def per_order(key, group):             # no type hints: applyInPandas infers its kind from them
        cart = list(group[group["kind"] == "cart"].sort_values("score")["item_id"])
        hidden = sorted(set(group.loc[group["kind"] == "hidden", "item_id"]))
        return pd.DataFrame([(key[0], i, cart, hidden, served)
                             for i, served in enumerate(answer(group, popular, orders, config, n))],
                            columns=["order_id", "candidate", "cart", "hidden", "served"])

    return rows.groupBy("order_id").applyInPandas(per_order, ANSWERS)


def scores(spark: SparkSession, events: DataFrame, catalog: DataFrame, config: Config, start: dt.date,
           end: dt.date, orders: list[list[str]]) -> dict:
    """{"window", "orders": test orders, "results": [{"order", "hr", "mrr"}, ...]} for the window start..end."""
    lists = lists_as_of(spark, events, catalog, config, start)
    served = answers(events, catalog, lists, config, start, end, orders)
    first = F.array_position(F.transform("served", lambda item: F.array_contains("hidden", item)), F.lit(True))
    graded = served.select("candidate", F.when(first > 0, 1.0).otherwise(0.0).alias("hit"),
                           F.when(first > 0, 1.0 / first).otherwise(0.0).alias("rr"))
    totals = {r["candidate"]: r for r in graded.groupBy("candidate").agg(
        F.count(F.lit(1)).alias("orders"), F.avg("hit").alias("hr"), F.avg("rr").alias("mrr")).collect()}
    for frame in lists.values():
        frame.unpersist()
    count = totals[0]["orders"] if totals else 0
    return {"window": [start.isoformat(), end.isoformat()], "orders": count,
            "results": [{"order": order, "hr": round(float(totals[i]["hr"]), 4) if i in totals else 0.0,
                         "mrr": round(float(totals[i]["mrr"]), 4) if i in totals else 0.0}
                        for i, order in enumerate(orders)]}


def evaluate(spark: SparkSession, events: DataFrame, catalog: DataFrame, config: Config, cutoff: dt.date,
             end: dt.date) -> dict:
    """The cart protocol: tier orders compared on validation, every order and the served one on the test window."""
    settings = config.cart
    orders = [list(o) for o in dict.fromkeys(tuple(o) for o in [settings.order, *settings.candidates])]
    validation = scores(spark, events, catalog, config, cutoff - dt.timedelta(days=settings.validation_days),
                        cutoff - dt.timedelta(days=1), orders)
    best = max(validation["results"], key=lambda r: (r["hr"], r["mrr"]))
    test = scores(spark, events, catalog, config, cutoff, end, orders)
    return {"k": settings.k, "served": list(settings.order), "chosen_on_validation": best["order"],
            "validation": validation, "test": test}
