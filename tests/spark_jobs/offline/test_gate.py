"""The quality gate's verdict: the ranked lists against each baseline and the previous run."""

from __future__ import annotations

from conf.schema import GateConfig
from spark_jobs.offline.gate import check

SETTINGS = GateConfig(k=20, metrics=["ndcg", "recall"], baseline_tolerance=0.0, previous_tolerance=0.2)


def measured(ndcg, recall, base_ndcg=0.10, base_recall=0.20):
    return {"ranked": {"ndcg": ndcg, "recall": recall}, "popular_recent": {"ndcg": base_ndcg, "recall": base_recall}}


def test_lists_above_the_baselines_and_near_the_previous_run_pass():
    assert check(measured(0.30, 0.40), {"ndcg": 0.33, "recall": 0.45}, SETTINGS) == []
    assert check(measured(0.30, 0.40), None, SETTINGS) == []


def test_falling_below_a_baseline_names_the_metric_and_the_baseline():
    failures = check(measured(0.08, 0.40), None, SETTINGS)
    assert len(failures) == 1
    assert failures[0].startswith("ndcg@20 of the ranked lists 0.0800 is below the popular_recent baseline's 0.1000")


def test_a_drop_beyond_the_tolerance_from_the_previous_run_fails():
    failures = check(measured(0.30, 0.31), {"ndcg": 0.33, "recall": 0.40}, SETTINGS)
    assert failures == ["recall@20 of the ranked lists 0.3100 dropped more than 20% from the previous run's 0.4000"]


def test_tolerances_widen_the_floor():
    loose = SETTINGS.model_copy(update={"baseline_tolerance": 0.25})
    assert check(measured(0.08, 0.40), None, loose) == []
