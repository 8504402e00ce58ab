"""Offline evaluation on a temporal split: every source's lists scored by models/metrics.py.

Protocol (../shared/EVALUATION.md): train = events strictly before the cutoff; test = the
cutoff .. end (inclusive). Evaluated users had at least one train interaction; a user's
relevant set is the distinct items of their test events of type eval.relevant_event.
Two modes:
- repeats:   lists may hold items the user had in train; relevant = all test items.
- discovery: train items are removed from lists and from the relevant set; users left
             with nothing relevant are skipped.
Models see only train data; interactions are built as of the day before the cutoff with
the configured weights and decay. All lists are computed in Spark, per user.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from conf import Config
from models import metrics
from models.topn import LIST_COLUMNS, from_global, from_neighbours, pad

log = logging.getLogger(__name__)
MODES = {"repeats": False, "discovery": True}  # mode -> exclude the user's train items


class EvaluationError(RuntimeError):
    """The evaluation cannot run (no data on one side of the cutoff, an unknown source, ...)."""


@dataclass
class Split:
    """Train and test sides of a temporal split."""

    cutoff: dt.date
    end: dt.date
    train_events: DataFrame
    train: DataFrame        # interactions as of the day before the cutoff
    users: DataFrame        # evaluated users (user_id)
    relevant: DataFrame | None  # user_id, item_id in the test window (None: no test side)
    catalog: DataFrame
    n_train_items: int


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def as_of(events: DataFrame, catalog: DataFrame, config: Config, cutoff: dt.date) -> Split:
    """What is known at midnight starting `cutoff`: earlier events, interactions, their users (no test side)."""
    from spark_jobs.interactions import transform as interactions

    train_events = events.filter(F.col("event_time") < F.lit(midnight(cutoff))).cache()
    train = interactions(train_events, cutoff - dt.timedelta(days=1), config.interactions).cache()
    return Split(cutoff, cutoff, train_events, train, train.select("user_id").distinct().cache(), None, catalog, 0)


def temporal_split(events: DataFrame, catalog: DataFrame, config: Config, cutoff: dt.date, end: dt.date) -> Split:
    """Cut events at the cutoff and derive train interactions, evaluated users and relevant sets."""
    if end < cutoff:
        raise EvaluationError(f"eval end {end} is before the cutoff {cutoff}")
    known = as_of(events, catalog, config, cutoff)
    test = events.filter((F.col("event_time") >= F.lit(midnight(cutoff)))
                         & (F.col("event_time") < F.lit(midnight(end + dt.timedelta(days=1)))))
    relevant = (test.filter(F.col("event_type") == config.eval.relevant_event)
                .select("user_id", "item_id").distinct().join(known.users, "user_id").cache())
    n_train_items = known.train.select("item_id").distinct().count()
    if n_train_items == 0 or relevant.limit(1).count() == 0:
        raise EvaluationError(f"nothing to evaluate: {n_train_items} train items before {cutoff}, and "
                              f"test users with {config.eval.relevant_event} events in {cutoff}..{end}: "
                              f"{relevant.select('user_id').distinct().count()}; check the dates against the data")
    return Split(cutoff, end, known.train_events, known.train, relevant.select("user_id").distinct().cache(),
                 relevant, catalog, n_train_items)


def popular(split: Split, config: Config, days: int | None) -> DataFrame:
    """item_id, score over the train window (all of it, or its last `days`)."""
    from spark_jobs.popularity import item_scores

    start = midnight(split.cutoff - dt.timedelta(days=days)) if days else None
    return item_scores(split.train_events, start, midnight(split.cutoff), config.interactions.weights)


def buy_again(split: Split, users: DataFrame, n: int) -> DataFrame:
    """The user's own items: most purchases first, then most events, then most recent."""
    order = Window.partitionBy("user_id").orderBy(F.col("n_purchases").desc(), F.col("n_events").desc(),
                                                  F.col("last_time").desc(), "item_id")
    own = (split.train.join(users, "user_id").withColumn("rank", F.row_number().over(order))
           .filter(F.col("rank") <= n))
    return own.select("user_id", "item_id", F.col("n_purchases").cast("double").alias("score"), "rank")


def source_lists(spark: SparkSession, name: str, split: Split, config: Config, n: int,
                 exclude_seen: bool) -> DataFrame | None:
    """The top-n lists of one source for the evaluated users (None: not applicable in this mode)."""
    users, train = split.users, split.train
    seen = train.select("user_id", "item_id")
    history = train.join(users, "user_id")
    if name == "popular_all_time":
        return from_global(users, popular(split, config, None), seen, n, exclude_seen)
    if name == "popular_recent":
        return from_global(users, popular(split, config, config.eval.recent_days), seen, n, exclude_seen)
    if name == "buy_again":
        if exclude_seen:
            return None
        recent = from_global(users, popular(split, config, config.eval.recent_days), seen, n, False)
        return pad(buy_again(split, users, n), recent, n)
    if name == "item_knn":
        from spark_jobs.item_similarity import transform as similarity

        neighbours = similarity(split.train_events, config.similarity)
        return from_neighbours(history, neighbours, n, exclude_seen)
    if name == "content":
        from models.content import neighbours as content_neighbours

        items = split.catalog.join(train.select("item_id").distinct(), "item_id") \
            .select("item_id", "title", "category", "brand", "price").toPandas()
        found = spark.createDataFrame(content_neighbours(items, config.content, config.ann),
                                      "item_id string, neighbour_id string, score float, rank int")
        return from_neighbours(history, found, n, exclude_seen)
    if name in ("als_implicit", "als_spark"):
        from models.als import train as als
        from models.ann import retrieve

        factors = als(spark, train, config.als, config.seed, engine=name.removeprefix("als_"))
        return retrieve(spark, factors.users.join(users, "user_id"), factors.items, n, config.ann,
                        seen if exclude_seen else None)
    if name == "ease":
        from models import ease

        model = ease.fit(train, config.ease, max(config.interactions.weights.values()))
        return None if model is None else ease.recommend(spark, train, model, n, exclude_seen, users)
    raise EvaluationError(f"unknown eval source {name!r}; known: {', '.join(KNOWN_SOURCES)}")


KNOWN_SOURCES = ("popular_all_time", "popular_recent", "buy_again", "item_knn", "content", "als_implicit",
                 "als_spark", "ease", "ranked")


def ranked_lists(spark: SparkSession, split: Split, config: Config, n: int, exclude_seen: bool,
                 cache: dict) -> tuple[DataFrame, dict]:
    """The full pipeline's final lists (candidates -> ranker -> re-ranking rules) and the ranker's summary."""
    from models import candidates, ranking

    model = ranking.train(spark, split.train_events, split.catalog, config, split.cutoff, exclude_seen, cache)
    if ("fitted", split.cutoff) not in cache:
        cache[("fitted", split.cutoff)] = candidates.fit(spark, split, config)
    rules = ranking.mode_rules(config.rerank, exclude_seen)
    lists = ranking.final_lists(spark, split, split.users, config, model, rules, exclude_seen, n,
                                cache[("fitted", split.cutoff)])
    return lists, {"importances": model.importances, "training": model.training}


def score_lists(lists: DataFrame, split: Split, ks: list[int], exclude_seen: bool, categories: DataFrame,
                novelty: DataFrame) -> dict[int, dict]:
    """Metrics at each K for one source's lists in one mode."""
    relevant = split.relevant
    if exclude_seen:
        relevant = relevant.join(split.train.select("user_id", "item_id"), ["user_id", "item_id"], "left_anti")
    return {k: metrics.summarize(metrics.per_user(lists, relevant, k, categories, novelty), lists, k,
                                 split.n_train_items) for k in ks}


def evaluate(spark: SparkSession, split: Split, config: Config, sources: list[str],
             progress: Callable[[str], None] = log.info) -> dict:
    """Every source in both modes at every K of eval.ks; returns the results tree."""
    unknown = [s for s in sources if s not in KNOWN_SOURCES]
    if unknown:
        raise EvaluationError(f"unknown eval source(s) {unknown}; known: {', '.join(KNOWN_SOURCES)}")
    ks = sorted(config.eval.ks)
    n = ks[-1]
    categories = split.catalog.select("item_id", "category")
    novelty = metrics.item_novelty(split.train).cache()
    results: dict = {mode: {} for mode in MODES}
    timings: dict[str, float] = {}
    rankers: dict[str, dict] = {}
    cache: dict = {}
    for name in sources:
        for mode, exclude_seen in MODES.items():
            began = time.perf_counter()
            if name == "ranked":
                lists, rankers[mode] = ranked_lists(spark, split, config, n, exclude_seen, cache)
            else:
                lists = source_lists(spark, name, split, config, n, exclude_seen)
            if lists is None:
                continue
            lists = lists.select(*LIST_COLUMNS).cache()
            results[mode][name] = score_lists(lists, split, ks, exclude_seen, categories, novelty)
            lists.unpersist()
            timings[f"{name}/{mode}"] = round(time.perf_counter() - began, 1)
            best = results[mode][name][n]
            progress(f"{name:18s} {mode:9s} NDCG@{n} {best['ndcg']:.4f}  ({timings[f'{name}/{mode}']:.0f} s)")
    users = {mode: next(iter(next(iter(r.values())).values()))["users"] if r else 0 for mode, r in results.items()}
    return {"cutoff": split.cutoff.isoformat(), "end": split.end.isoformat(), "ks": ks,
            "train_items": split.n_train_items, "users": users, "results": results, "seconds": timings,
            "rankers": rankers}
