"""The ranked lists end to end: candidates -> features -> XGBoost ranker (models/ranker.py) -> business rules.

train(): for each of ranking.label_windows consecutive windows of ranking.label_days before the
cutoff, features as of the window's first day and labels = what users bought in the window
(temporal_split over it: the features never see the labels); per window, users with a bought
item are sampled (seeded, at most ranking.max_train_users) and each gets
ranking.random_negatives random catalog items besides its candidates. A floor: while the
windows hold fewer than ranking.min_train_users user queries (a shop whose users buy every few
months), earlier windows are added, up to ranking.max_label_windows, or until the history ends.
final_lists(): the trained ranker over every user's candidates as of the cutoff, in Spark.
The merged candidates and their features are checkpointed (localCheckpoint): their plans join
nine sources and a dozen feature tables, and re-planning them whole runs the driver out of
memory. Both modes of the protocol: `discovery` removes the user's own items from the candidates and
the labels (the re-ranker then drops purchased items too); otherwise own items stay in.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from conf import Config, config_digest
from conf.schema import RerankConfig
from models import ranker
from models.topn import positions
from spark_jobs.offline import candidates, features
from spark_jobs.offline.sources import REASONS
from spark_jobs.offline.split import EvaluationError, Split, temporal_split

log = logging.getLogger(__name__)


def mode_rules(rules: RerankConfig, discovery: bool) -> RerankConfig:
    """The configured rules, with purchased items dropped (discovery) or allowed back (repeats)."""
    if discovery:
        return rules.model_copy(update={"drop_purchased": True, "rebuyable_categories": []})
    return rules.model_copy(update={"drop_purchased": False})


def is_discovery(rules: RerankConfig) -> bool:
    """The nightly run's mode: discovery when every purchased item would be dropped anyway."""
    return rules.drop_purchased and not rules.rebuyable_categories


def random_items(users: DataFrame, catalog: DataFrame, k: int, seed: int, broadcast_max_items: int) -> DataFrame:
    """user_id, item_id: k seeded random catalog items per user (duplicates collapse)."""
    items = positions(catalog.select("item_id").distinct(), [F.col("item_id")], "_i").withColumn("_i", F.col("_i") - 1)
    n_items = items.count()
    draws = users.select("user_id", F.explode(F.sequence(F.lit(1), F.lit(k))).alias("_j")).withColumn(
        "_i", F.pmod(F.xxhash64("user_id", "_j", F.lit(seed)), F.lit(n_items)))
    return draws.join(features.small(items, n_items, broadcast_max_items), "_i").select("user_id", "item_id") \
        .distinct()


def with_random(merged: DataFrame, users: DataFrame, catalog: DataFrame, k: int, seed: int,
                broadcast_max_items: int) -> DataFrame:
    if k == 0:
        return merged
    extra = random_items(users, catalog, k, seed, broadcast_max_items).join(
        merged.select("user_id", "item_id"), ["user_id", "item_id"], "left_anti")
    return merged.unionByName(extra.withColumn("n_sources", F.lit(0.0)).withColumn("source", F.lit("random")),
                              allowMissingColumns=True)


def labelled(frame: DataFrame, relevant: DataFrame) -> DataFrame:
    return frame.join(relevant.select("user_id", "item_id", F.lit(1.0).alias("label")), ["user_id", "item_id"],
                      "left").fillna(0.0, ["label"])


def sample_users(users: DataFrame, limit: int, seed: int) -> DataFrame:
    return users.select("user_id").withColumn("_h", F.xxhash64("user_id", F.lit(seed))).orderBy("_h", "user_id") \
        .limit(limit).drop("_h")


@dataclass
class Window:
    """One label window's training rows (user_id, item_id, label, *features) and its first and last day."""

    dates: list[str]
    rows: pd.DataFrame


def window_rows(spark: SparkSession, events: DataFrame, catalog: DataFrame, config: Config, cutoff: dt.date,
                discovery: bool, cache: dict):
    """Training rows (user_id, item_id, label, *features) of the label window ending the day before `cutoff`.

    Features as of the window's first day; labels = what users bought in the window. Returns
    None when the window has nothing to learn from (no history before it, or no purchases).
    """
    settings = config.ranking
    if ("window", cutoff) not in cache:
        try:
            window = temporal_split(events, catalog, config, cutoff - dt.timedelta(days=settings.label_days),
                                    cutoff - dt.timedelta(days=1))
        except EvaluationError as err:
            log.warning("ranker: skipping the label window before %s: %s", cutoff, err)
            cache[("window", cutoff)] = None
        else:
            cache[("window", cutoff)] = (window, candidates.fit(spark, window, config))
    if cache[("window", cutoff)] is None:
        return None
    window, fitted = cache[("window", cutoff)]
    relevant = window.relevant
    if discovery:
        relevant = relevant.join(window.train.select("user_id", "item_id"), ["user_id", "item_id"], "left_anti")
    users = sample_users(relevant.select("user_id").distinct(), settings.max_train_users, config.seed).cache()
    merged = with_random(candidates.merged(fitted, users, discovery).localCheckpoint(),
                         users, catalog, settings.random_negatives, config.seed, settings.broadcast_max_items)
    if discovery:
        merged = merged.join(window.train.select("user_id", "item_id"), ["user_id", "item_id"], "left_anti")
    frame = labelled(features.build(merged, window, fitted.context.recent, fitted.context.trending, config,
                                    fitted.factors).localCheckpoint(), relevant)
    with_positive = frame.groupBy("user_id").agg(F.max("label").alias("_p")).filter("_p > 0").select("user_id")
    # float32, as XGBoost holds them anyway: half the driver memory of doubles, the same model
    rows = frame.join(with_positive, "user_id").select(
        "user_id", "item_id", "label", *[F.col(c).cast("float") for c in features.names(config)])
    rows = rows.toPandas()
    log.info("ranker: %d training rows, %d users, %d positives (window %s..%s)", len(rows),
             rows["user_id"].nunique(), int(rows["label"].sum()), window.cutoff, window.end)
    return rows


def label_windows(spark: SparkSession, events: DataFrame, catalog: DataFrame, config: Config, cutoff: dt.date,
                  discovery: bool, cache: dict | None = None) -> list[Window]:
    """The training rows of the ranking.label_windows windows of ranking.label_days before `cutoff`
    (more while under ranking.min_train_users, see the module doc), newest first.

    `cache` (any dict) keeps each label window's split and fitted sources for a second call
    with the same cutoff (the other mode).
    """
    settings = config.ranking
    cache = {} if cache is None else cache
    found, queries = [], 0
    for n in range(max(settings.max_label_windows, settings.label_windows)):
        if n >= settings.label_windows and queries >= settings.min_train_users:
            break
        end = cutoff - dt.timedelta(days=n * settings.label_days)
        rows = window_rows(spark, events, catalog, config, end, discovery, cache)
        if rows is None and n >= settings.label_windows:
            break                                    # the history ends: no earlier window to add
        if rows is not None and not rows.empty:
            found.append(Window([(end - dt.timedelta(days=settings.label_days)).isoformat(),
                                 (end - dt.timedelta(days=1)).isoformat()], rows))
            queries += rows["user_id"].nunique()
    if found and queries < settings.min_train_users:
        log.warning("ranker: %d user queries in %d label window(s), under ranking.min_train_users %d: the history "
                    "holds no more", queries, len(found), settings.min_train_users)
    return found


def fit(windows: list[Window], config: Config, cutoff: dt.date, discovery: bool) -> ranker.Ranker:
    """A ranker on the rows of `windows` (one query per user and window)."""
    if not windows:
        raise ranker.RankerError(f"no label window before {cutoff} has purchases to learn from: widen "
                                 "ranking.label_days or check the dates against the data")
    rows = pd.concat([w.rows.assign(user_id=f"{n}|" + w.rows["user_id"]) for n, w in enumerate(windows)],
                     ignore_index=True)
    started = time.perf_counter()
    model = ranker.fit(rows, features.names(config), config.ranking, config.seed, config_digest(config))
    model.training.update(windows=[w.dates for w in windows], discovery=discovery)
    log.info("ranker: fitted on %d rows, %d user queries in %.1f s", len(rows), model.training["users"],
             time.perf_counter() - started)
    return model


def train(spark: SparkSession, events: DataFrame, catalog: DataFrame, config: Config, cutoff: dt.date,
          discovery: bool, cache: dict | None = None) -> ranker.Ranker:
    """A ranker for lists made at `cutoff`, trained on the label windows before it (label_windows)."""
    return fit(label_windows(spark, events, catalog, config, cutoff, discovery, cache), config, cutoff, discovery)


def candidate_frame(spark: SparkSession, view: Split, users: DataFrame, config: Config, discovery: bool,
                    fitted: candidates.Fitted | None = None, names: list[str] | None = None) -> DataFrame:
    """Every user's merged candidates with their features and item attributes, as of view.cutoff (checkpointed);
    `names`: only these sources' candidates (the one source a run publishes)."""
    fitted = fitted or candidates.fit(spark, view, config, names)
    merged = candidates.merged(fitted, users, discovery).localCheckpoint()
    return features.build(merged, view, fitted.context.recent, fitted.context.trending, config,
                          fitted.factors).localCheckpoint()


def final_lists(spark: SparkSession, view: Split, users: DataFrame, config: Config, model: ranker.Ranker,
                rules: RerankConfig, discovery: bool, n: int, fitted: candidates.Fitted | None = None,
                frame: DataFrame | None = None) -> DataFrame:
    """user_id, item_id, score, rank, reason: the ranked, re-ranked lists as of view.cutoff."""
    frame = frame if frame is not None else candidate_frame(spark, view, users, config, discovery, fitted)
    return ranker.rank(spark, frame, model, rules, view.cutoff - dt.timedelta(days=1), n, config.ranking.rerank_pool,
                       REASONS)


def source_lists(spark: SparkSession, view: Split, frame: DataFrame, source: str, config: Config,
                 rules: RerankConfig, n: int) -> DataFrame:
    """user_id, item_id, score, rank, reason: one candidate source's lists through the same re-ranking rules."""
    return ranker.rank_by_source(spark, frame, source, rules, view.cutoff - dt.timedelta(days=1), n,
                                 config.ranking.rerank_pool, REASONS)
