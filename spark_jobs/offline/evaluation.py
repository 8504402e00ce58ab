"""Offline evaluation on a temporal split: every source's lists scored by models/metrics.py.

Protocol (../shared/EVALUATION.md, and spark_jobs/offline/split.py for the split). Two modes:
- repeats:   lists may hold items the user had in train; relevant = all test items.
- discovery: train items are removed from lists and from the relevant set; users left
             with nothing relevant are skipped.
The sources come from the one registry (spark_jobs/offline/sources.py), each fitted once on
the train side and listed for both modes; "ranked" is the whole pipeline's final lists
(candidates -> ranker -> re-ranking rules). All lists are computed in Spark, per user.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from conf import Config
from models import metrics
from models.topn import LIST_COLUMNS
from spark_jobs.offline import candidates, ranked, sources
from spark_jobs.offline.sources import RANKED
from spark_jobs.offline.split import EvaluationError, Split

log = logging.getLogger(__name__)
MODES = {"repeats": False, "discovery": True}  # mode -> exclude the user's train items


def source_lists(context: sources.Context, names: list[str], n: int, exclude_seen: bool,
                 fitted: dict | None = None) -> dict[str, DataFrame]:
    """The top-n lists of each named source for context.view's users (sources that do not apply are left out).

    `fitted` (any dict) keeps each source's model for another call on the same view (the other mode).
    """
    fitted = {} if fitted is None else fitted
    found = {}
    for name in names:
        source = sources.get(name)
        if name not in fitted:
            fitted[name] = source.fit(context)
        rows = source.recommend(context, fitted[name], context.view.users, n, exclude_seen)
        if rows is not None:
            found[name] = rows.select(*LIST_COLUMNS)
    return found


def ranked_lists(spark: SparkSession, split: Split, config: Config, n: int, exclude_seen: bool,
                 cache: dict) -> tuple[DataFrame, dict]:
    """The full pipeline's final lists (candidates -> ranker -> re-ranking rules) and the ranker's summary."""
    model = ranked.train(spark, split.train_events, split.catalog, config, split.cutoff, exclude_seen, cache)
    if ("fitted", split.cutoff) not in cache:
        cache[("fitted", split.cutoff)] = candidates.fit(spark, split, config)
    rules = ranked.mode_rules(config.rerank, exclude_seen)
    lists = ranked.final_lists(spark, split, split.users, config, model, rules, exclude_seen, n,
                               cache[("fitted", split.cutoff)])
    return lists, {"importances": model.importances, "training": model.training}


def relevant_set(split: Split, exclude_seen: bool) -> DataFrame:
    """user_id, item_id: the test window's relevant items (without the user's train items in discovery)."""
    if exclude_seen:
        return split.relevant.join(split.train.select("user_id", "item_id"), ["user_id", "item_id"], "left_anti")
    return split.relevant


def score_lists(lists: DataFrame, split: Split, ks: list[int], exclude_seen: bool, categories: DataFrame,
                novelty: DataFrame) -> dict[int, dict]:
    """Metrics at each K for one source's lists in one mode."""
    relevant = relevant_set(split, exclude_seen)
    return {k: metrics.summarize(metrics.per_user(lists, relevant, k, categories, novelty), lists, k,
                                 split.n_train_items) for k in ks}


KEY_SEP = "\u0001"   # joins a list's name and a user id into one key (in neither)


def score_many(spark: SparkSession, lists: dict[str, DataFrame], split: Split, k: int, exclude_seen: bool,
               categories: DataFrame, novelty: DataFrame) -> dict[str, dict]:
    """score_lists at K for several lists in one pass (a few Spark jobs instead of a few per list).

    Each list's users are keyed (list, user), each with the same relevant items, so every list
    gets the figures score_lists gives it alone.
    """
    def keyed(name: str, rows: DataFrame) -> DataFrame:
        return rows.select(F.concat(F.lit(name + KEY_SEP), "user_id").alias("user_id"), "item_id", "rank")

    recs = reduce(DataFrame.unionByName, [keyed(name, rows) for name, rows in lists.items()])
    names = F.broadcast(spark.createDataFrame([(name,) for name in lists], "_list string"))
    relevant = relevant_set(split, exclude_seen).crossJoin(names).select(
        F.concat(F.col("_list"), F.lit(KEY_SEP), "user_id").alias("user_id"), "item_id")
    users = metrics.per_user(recs, relevant, k, categories, novelty)
    found = metrics.summarize_groups(users, recs, k, split.n_train_items,
                                     lambda user_id: F.substring_index(user_id, KEY_SEP, 1))
    return {name: found[name] for name in lists}


def evaluate(spark: SparkSession, split: Split, config: Config, names: list[str],
             progress: Callable[[str], None] = log.info) -> dict:
    """Every named source (and "ranked") in both modes at every K of eval.ks; returns the results tree."""
    unknown = [name for name in names if name != RANKED and name not in sources.BY_NAME]
    if unknown:
        raise EvaluationError(f"unknown eval source(s) {unknown}; known: {', '.join([*sources.BY_NAME, RANKED])}")
    ks = sorted(config.eval.ks)
    n = ks[-1]
    categories = split.catalog.select("item_id", "category")
    novelty = metrics.item_novelty(split.train).cache()
    results: dict = {mode: {} for mode in MODES}
    timings: dict[str, float] = {}
    rankers: dict[str, dict] = {}
    cache: dict = {}
    fitted: dict = {}
    context = sources.Context(spark, split, config, ranking=False)
    for name in names:
        for mode, exclude_seen in MODES.items():
            began = time.perf_counter()
            if name == RANKED:
                lists, rankers[mode] = ranked_lists(spark, split, config, n, exclude_seen, cache)
            else:
                lists = source_lists(context, [name], n, exclude_seen, fitted).get(name)
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
