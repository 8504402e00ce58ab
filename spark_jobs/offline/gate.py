"""The quality gate: which lists a run publishes, judged on a holdout window before the run date.

measure() scores, on the same holdout users and with models/metrics.py: the ranked lists made
at the holdout's first day (by a ranker trained without the holdout), each candidate source's
own lists through the same re-ranking rules (what the run would serve if that source won), and
the configured baselines (gate.baselines, e.g. recent popularity).
choose() then decides, on gate.metrics[0] (ties broken by the next metric):
- the ranked lists are published when they reach the best single source's value
  x (1 - gate.source_tolerance); otherwise the best source's lists are, labelled as such.
  A run never publishes lists that lose to a source it had;
- no decision without signal: with fewer than gate.min_users holdout users or gate.min_positives
  relevant items, or when the best value is 0 (a tie at zero), the gate is inconclusive;
- the published lists must reach each baseline x (1 - baseline_tolerance) and the previous
  run's published value x (1 - previous_tolerance); otherwise the run fails (GateError, raised
  by the quality_gate step) and nothing is published.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from conf import Config
from conf.schema import GateConfig
from models import metrics
from spark_jobs.offline import evaluation, sources
from spark_jobs.offline.sources import RANKED
from spark_jobs.offline.split import Split


class GateError(RuntimeError):
    """The run's lists fell below a baseline or the previous run: nothing is published."""


def signal(split: Split, discovery: bool) -> dict:
    """Holdout users and relevant (user, item) pairs the gate would judge on."""
    row = evaluation.relevant_set(split, discovery).agg(
        F.count(F.lit(1)).alias("positives"), F.countDistinct("user_id").alias("users")).first()
    return {"positives": int(row["positives"]), "users": int(row["users"])}


def enough(found: dict, settings: GateConfig) -> bool:
    return found["users"] >= settings.min_users and found["positives"] >= settings.min_positives


def measure(spark: SparkSession, split: Split, lists: dict[str, DataFrame], config: Config,
            discovery: bool) -> tuple[dict, dict]:
    """({"ranked": {metric: value}, "<baseline>": {...}}, {"<source>": {...}}) at gate.k on the holdout.

    `lists`: "ranked" and each candidate source's re-ranked lists, for the holdout users.
    """
    k = config.gate.k
    categories = split.catalog.select("item_id", "category")
    novelty = metrics.item_novelty(split.train).cache()
    context = sources.Context(spark, split, config, ranking=False)
    baselines = evaluation.source_lists(context, config.gate.baselines, k, discovery)

    named = {**{f"source:{name}": rows for name, rows in lists.items() if name != RANKED},
             RANKED: lists[RANKED], **{f"baseline:{name}": rows for name, rows in baselines.items()}}
    scored = evaluation.score_many(spark, named, split, k, discovery, categories, novelty)
    measured = {RANKED: scored[RANKED], **{name: scored[f"baseline:{name}"] for name in baselines}}
    by_source = {name: scored[f"source:{name}"] for name in lists if name != RANKED}
    return measured, by_source


def choose(measured: dict, by_source: dict, previous: dict | None, settings: GateConfig,
           found: dict) -> dict:
    """The verdict: {"published": name or None, "passed", "failures", "inconclusive", "why"}."""
    metric = settings.metrics[0]
    order = [metric, *settings.metrics[1:]]

    def key(values: dict) -> tuple:
        return tuple(values.get(m, 0.0) for m in order)

    if not enough(found, settings):
        return {"published": None, "passed": True, "failures": [], "inconclusive": True,
                "why": f"{found['users']} holdout users and {found['positives']} relevant items (minimum "
                       f"{settings.min_users} and {settings.min_positives}): too little signal to choose"}
    best_source = max(by_source, key=lambda name: key(by_source[name])) if by_source else None
    best_value = max([measured[RANKED][metric]] + [v[metric] for v in by_source.values()])
    if best_value <= 0.0:
        return {"published": None, "passed": True, "failures": [], "inconclusive": True,
                "why": f"every list scores {metric}@{settings.k} 0 on the holdout: a tie at zero decides nothing"}
    ours = measured[RANKED]
    if best_source is None or ours[metric] >= by_source[best_source][metric] * (1 - settings.source_tolerance):
        published, values = RANKED, ours
        why = f"the ranked lists' {metric}@{settings.k} {ours[metric]:.4f} reaches every source"
        if best_source is not None:
            why += f" (best: {best_source} {by_source[best_source][metric]:.4f})"
    else:
        published, values = best_source, by_source[best_source]
        why = (f"{best_source}'s {metric}@{settings.k} {values[metric]:.4f} beats the ranked lists' "
               f"{ours[metric]:.4f}: publishing {best_source}'s lists through the re-ranking rules")
    failures = check(values, published, measured, previous, settings)
    return {"published": published, "passed": not failures, "failures": failures, "inconclusive": False,
            "why": why}


def check(values: dict, name: str, measured: dict, previous: dict | None, settings: GateConfig) -> list[str]:
    """The reasons to stop the run (empty: it passes) for the lists about to be published."""
    k = settings.k
    label = "the ranked lists" if name == RANKED else f"{name}'s lists"
    failures = []
    for metric in settings.metrics:
        for baseline, base in measured.items():
            if baseline == RANKED:
                continue
            floor = base[metric] * (1 - settings.baseline_tolerance)
            if values[metric] < floor:
                failures.append(f"{metric}@{k} of {label} {values[metric]:.4f} is below the {baseline} "
                                f"baseline's {base[metric]:.4f} (tolerance {settings.baseline_tolerance:.0%})")
        if previous and metric in previous:
            floor = previous[metric] * (1 - settings.previous_tolerance)
            if values[metric] < floor:
                failures.append(f"{metric}@{k} of {label} {values[metric]:.4f} dropped more than "
                                f"{settings.previous_tolerance:.0%} from the previous run's {previous[metric]:.4f}")
    return failures
