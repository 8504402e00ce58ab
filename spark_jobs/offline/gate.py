"""The quality gate: a run's final lists on a holdout window, against baselines and the previous run.

measure() scores the lists made at the holdout's first day (by a ranker trained without the
holdout) and the configured baselines on the same users, with models/metrics.py.
check() compares: every gate metric of the ranked lists must reach each baseline's value
x (1 - baseline_tolerance) and the previous run's value x (1 - previous_tolerance).
A failure raises GateError naming the metric, before anything is published.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from conf import Config
from conf.schema import GateConfig
from models import metrics
from models.topn import LIST_COLUMNS
from spark_jobs.offline import evaluation, sources
from spark_jobs.offline.split import Split


class GateError(RuntimeError):
    """The run's lists fell below a baseline or the previous run: nothing is published."""


def measure(spark: SparkSession, split: Split, ranked: DataFrame, config: Config, discovery: bool) -> dict:
    """{"ranked": {metric: value}, "<baseline>": {...}} at gate.k on the holdout window."""
    k = config.gate.k
    categories = split.catalog.select("item_id", "category")
    novelty = metrics.item_novelty(split.train).cache()
    context = sources.Context(spark, split, config, ranking=False)
    lists = {"ranked": ranked, **evaluation.source_lists(context, config.gate.baselines, k, discovery)}
    return {name: evaluation.score_lists(rows.select(*LIST_COLUMNS), split, [k], discovery, categories,
                                         novelty)[k] for name, rows in lists.items()}


def check(measured: dict, previous: dict | None, settings: GateConfig) -> list[str]:
    """The reasons to stop the run (empty: it passes)."""
    k, ours = settings.k, measured["ranked"]
    failures = []
    for metric in settings.metrics:
        for baseline, values in measured.items():
            if baseline == "ranked":
                continue
            floor = values[metric] * (1 - settings.baseline_tolerance)
            if ours[metric] < floor:
                failures.append(f"{metric}@{k} of the ranked lists {ours[metric]:.4f} is below the {baseline} "
                                f"baseline's {values[metric]:.4f} (tolerance {settings.baseline_tolerance:.0%})")
        if previous and metric in previous:
            floor = previous[metric] * (1 - settings.previous_tolerance)
            if ours[metric] < floor:
                failures.append(f"{metric}@{k} of the ranked lists {ours[metric]:.4f} dropped more than "
                                f"{settings.previous_tolerance:.0%} from the previous run's {previous[metric]:.4f}")
    return failures
