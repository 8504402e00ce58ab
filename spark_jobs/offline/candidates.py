"""Candidates per user from several sources, merged into one row per (user, item) with provenance.

The sources are ranking.sources, each from the registry (spark_jobs/offline/sources.py), each
the top ranking.candidates_per_source items of a user. Every list is computed in Spark per user;
the models fitted on the driver are items-sized. The merged frame has <source>_score and
<source>_rank (null when absent), n_sources, and the best-ranked source with its anchor item
or category (provenance for the reason code).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from conf import Config, config_digest
from models.topn import LIST_COLUMNS
from spark_jobs import lake
from spark_jobs.offline import features, sources
from spark_jobs.offline.split import Split

PROVENANCE = ("source", "anchor")


@dataclass
class Fitted:
    """The per-cutoff models behind the sources (fitted once, used for both list modes)."""

    context: sources.Context
    models: dict[str, object]      # source name -> what its fit returned

    @property
    def view(self) -> Split:
        return self.context.view

    @property
    def factors(self):
        """(user factors, item factors) of the fitted ALS source, if one was fitted (features.als_dot)."""
        return self.models.get(features.factor_source(self.context.config) or "")


def fit(spark: SparkSession, view: Split, config: Config, names: list[str] | None = None,
        known: dict[str, object] | None = None) -> Fitted:
    """Fit the configured sources (or only `names`, e.g. the one source a run publishes) on what is known at
    view.cutoff; `known`: models already fitted on that view (nightly_models), used as they are."""
    context = sources.Context(spark, view, config, ranking=True)
    known = known or {}
    return Fitted(context, {name: known[name] if name in known else sources.get(name).fit(context)
                            for name in names or config.ranking.sources})


# source -> (the nightly job that writes the same table, its neighbour column)
NIGHTLY = {"item_knn": ("item_similarity", "neighbour_id"), "fbt": ("fbt_pairs", "other_id")}


def nightly_models(spark: SparkSession, config: Config, run_date: dt.date) -> dict[str, DataFrame]:
    """The neighbour tables that run_date's item_similarity and fbt_pairs steps wrote with this configuration (their
    reports' config digest): the same transforms of the same events (up to the end of run_date) as those sources'
    fits on the run's final view, so that view reads them instead of fitting them again. Missing or written
    under another configuration: left out (fitted)."""
    digest = config_digest(config)
    found = {}
    for name, (job, other) in NIGHTLY.items():
        report = lake.read_json(spark, lake.report(config.paths.lake, job, run_date)) or {}
        if name in config.ranking.sources and report.get("config_digest") == digest:
            found[name] = spark.read.parquet(lake.curated(config.paths.lake, job, run_date)).select(
                "item_id", F.col(other).alias("neighbour_id"), "score").cache()
    return found


def merged(fitted: Fitted, users: DataFrame, exclude_seen: bool) -> DataFrame:
    """One row per (user, item): <source>_score, <source>_rank, n_sources, source, anchor (of the fitted sources)."""
    config = fitted.context.config
    n = config.ranking.candidates_per_source
    names = [name for name in config.ranking.sources if name in fitted.models]
    lists = []
    for name in names:
        rows = sources.get(name).recommend(fitted.context, fitted.models[name], users, n, exclude_seen)
        if rows is not None:
            lists.append(rows.select(*LIST_COLUMNS, "anchor", F.lit(name).alias("source")))
    every = reduce(DataFrame.unionByName, lists)
    columns = []
    for name in names:
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
