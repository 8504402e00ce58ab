"""The quality gate's verdict: which lists are published, against every source, the baselines and the last run."""

from __future__ import annotations

from conf.schema import GateConfig
from spark_jobs.offline.gate import check, choose

SETTINGS = GateConfig(k=20, metrics=["ndcg", "recall"], baseline_tolerance=0.0, previous_tolerance=0.2,
                      min_users=50, min_positives=50)
SIGNAL = {"users": 200, "positives": 400}


def measured(ndcg, recall, base_ndcg=0.10, base_recall=0.20):
    return {"ranked": {"ndcg": ndcg, "recall": recall}, "popular_recent": {"ndcg": base_ndcg, "recall": base_recall}}


def sources(**values):
    return {name: {"ndcg": v[0], "recall": v[1]} for name, v in values.items()}


def test_ranked_lists_that_reach_every_source_are_published():
    verdict = choose(measured(0.30, 0.40), sources(als=(0.25, 0.35), ease=(0.29, 0.41)), None, SETTINGS, SIGNAL)
    assert verdict["published"] == "ranked" and verdict["passed"] and not verdict["inconclusive"]
    assert "best: ease 0.2900" in verdict["why"]


def test_a_source_that_beats_the_ranked_lists_is_published_instead():
    verdict = choose(measured(0.17, 0.30), sources(als=(0.36, 0.50), popular_recent=(0.18, 0.31)), None, SETTINGS,
                     SIGNAL)
    assert verdict["published"] == "als" and verdict["passed"]
    assert verdict["why"].startswith("als's ndcg@20 0.3600 beats the ranked lists' 0.1700")
    tolerant = SETTINGS.model_copy(update={"source_tolerance": 0.6})
    assert choose(measured(0.17, 0.30), sources(als=(0.36, 0.50)), None, tolerant, SIGNAL)["published"] == "ranked"


def test_no_decision_without_signal_and_a_tie_at_zero_is_no_pass():
    few = choose(measured(0.30, 0.40), sources(als=(0.2, 0.3)), None, SETTINGS, {"users": 15, "positives": 18})
    assert few["published"] is None and few["inconclusive"] and "15 holdout users" in few["why"]
    zero = choose(measured(0.0, 0.0, 0.0, 0.0), sources(als=(0.0, 0.0)), None, SETTINGS, SIGNAL)
    assert zero["published"] is None and zero["inconclusive"] and "tie at zero" in zero["why"]


def test_the_published_lists_must_reach_the_baselines_and_the_previous_run():
    below = choose(measured(0.08, 0.40), {}, None, SETTINGS, SIGNAL)
    assert not below["passed"] and below["failures"][0].startswith(
        "ndcg@20 of the ranked lists 0.0800 is below the popular_recent baseline's 0.1000")
    dropped = choose(measured(0.12, 0.30), sources(ease=(0.20, 0.31)), {"ndcg": 0.33, "recall": 0.40}, SETTINGS,
                     SIGNAL)
    assert dropped["published"] == "ease" and not dropped["passed"]
    assert dropped["failures"] == [
        "ndcg@20 of ease's lists 0.2000 dropped more than 20% from the previous run's 0.3300",
        "recall@20 of ease's lists 0.3100 dropped more than 20% from the previous run's 0.4000"]


def test_tolerances_widen_the_floor():
    loose = SETTINGS.model_copy(update={"baseline_tolerance": 0.25})
    assert check({"ndcg": 0.08, "recall": 0.40}, "ranked", measured(0.08, 0.40), None, loose) == []
    assert check({"ndcg": 0.30, "recall": 0.33}, "ranked", measured(0.3, 0.33), {"ndcg": 0.33, "recall": 0.40},
                 SETTINGS) == []
