"""The A/B statistics, proven by simulation on the functions spark_jobs/experiment_report.py calls.

A seeded simulated shop: visitors are assigned by the lookup server's own sha256 buckets, see their
variant's home list on a few visits, click shown items and buy one with the variant's probability. Each
run's per-variant sums go through models.experiment_stats.analyse, as the job's do.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from conf.schema import ExperimentConfig
from lookup_server.experiments import assign
from models import experiment_stats as st

LIST_LENGTH = 10
CLICK_RATE = 0.03           # per shown item
BASE_CONVERSION = 0.05      # share of exposed users who buy a recommended item
PRICES = (4.0, 9.0, 15.0, 30.0)


def assigned(name: str, users: int, shares: dict[str, float]) -> np.ndarray:
    experiment = ExperimentConfig(name=name, variants={v: {"share": s} for v, s in shares.items()})
    names = list(shares)
    return np.array([names.index(assign(experiment, f"u{n}")) for n in range(users)])


def simulate(seed: int, users: int, conversion: dict[str, float], assign_shares: dict[str, float]) -> dict:
    """Per-variant sums of one simulated experiment (the job's SUMS)."""
    rng = np.random.default_rng(seed)
    names = list(assign_shares)
    variant = assigned(f"sim{seed}", users, assign_shares)
    visits = 1 + rng.poisson(1.0, users)
    impressions = visits                                  # one home list per visit
    clicks = rng.binomial(impressions * LIST_LENGTH, CLICK_RATE)
    rates = np.array([conversion[v] for v in names])[variant]
    converted = rng.random(users) < rates
    revenue = np.where(converted, rng.choice(PRICES, users) * (1 + rng.poisson(0.5, users)), 0.0)
    sums = {}
    for i, name in enumerate(names):
        mine = variant == i
        imp, clk, rev = impressions[mine].astype(float), clicks[mine].astype(float), revenue[mine]
        sums[name] = {"users": float(mine.sum()), "converted": float(converted[mine].sum()),
                      "impressions": imp.sum(), "impressions_sq": (imp * imp).sum(), "clicks": clk.sum(),
                      "clicks_sq": (clk * clk).sum(), "clicks_impressions": (clk * imp).sum(),
                      "revenue": rev.sum(), "revenue_sq": (rev * rev).sum()}
    return sums


HALF = {"control": 0.5, "treatment": 0.5}


def test_a_ten_percent_lift_is_detected_in_at_least_80_percent_of_runs_at_the_size_the_report_asks_for():
    needed = st.users_needed(BASE_CONVERSION, 0.10, alpha=0.05, power=0.8)
    assert 25_000 < needed < 40_000          # the textbook size for 5% -> 5.5% at 80% power
    detected = 0
    visitors = round(2 * needed * 1.02)     # hash buckets split about evenly: 2% more keeps both arms at `needed`
    for seed in range(100):
        sums = simulate(seed, visitors, {"control": BASE_CONVERSION, "treatment": BASE_CONVERSION * 1.1}, HALF)
        report = st.analyse(sums, HALF, "control", alpha=0.05, power=0.8, planned_lift=0.10)
        conversion = report["comparisons"]["treatment"]["conversion"]
        detected += conversion["significant"] and conversion["diff"] > 0
        assert report["trustworthy"]
        assert min(sums["control"]["users"], sums["treatment"]["users"]) >= needed
    print(f"power: {detected}/100 at {needed} users per variant")
    assert detected >= 80


def test_a_over_a_is_significant_in_2_to_8_percent_of_runs():
    significant = {"conversion": 0, "ctr": 0, "revenue_per_user": 0}
    srm = 0
    for seed in range(200):
        sums = simulate(1000 + seed, 8_000, {"control": BASE_CONVERSION, "treatment": BASE_CONVERSION}, HALF)
        report = st.analyse(sums, HALF, "control")
        for metric, result in report["comparisons"]["treatment"].items():
            significant[metric] += result["significant"]
        srm += not report["trustworthy"]
    print(f"A/A significant in 200 runs of 8,000 users: {significant}; SRM flagged: {srm}")
    assert 4 <= significant["conversion"] <= 16
    assert 4 <= significant["ctr"] <= 16
    assert 4 <= significant["revenue_per_user"] <= 16
    assert srm <= 2                       # alpha 0.001: a correct split is almost never flagged


def test_a_52_48_split_under_a_configured_50_50_is_flagged_as_sample_ratio_mismatch():
    sums = simulate(7, 20_000, {"control": BASE_CONVERSION, "treatment": BASE_CONVERSION},
                    {"control": 0.52, "treatment": 0.48})
    report = st.analyse(sums, HALF, "control")
    assert report["srm"]["mismatch"] and not report["trustworthy"]
    assert report["srm"]["p_value"] < 0.001
    assert report["srm"]["observed"]["control"] > report["srm"]["observed"]["treatment"]


def test_the_interval_covers_the_true_difference_about_95_percent_of_the_time():
    covered = 0
    for seed in range(200):
        sums = simulate(5000 + seed, 10_000, {"control": 0.05, "treatment": 0.06}, HALF)
        c = st.analyse(sums, HALF, "control")["comparisons"]["treatment"]["conversion"]
        covered += c["diff_low"] <= 0.01 <= c["diff_high"]
    assert 180 <= covered <= 198


def test_known_values():
    # two proportions: 100/1000 against 130/1000 (pooled z = 2.103, p = 0.0355)
    r = st.two_proportions(100, 1000, 130, 1000)
    assert r["diff"] == pytest.approx(0.03)
    assert r["p_value"] == pytest.approx(0.0355, abs=5e-4)
    assert r["relative"] == pytest.approx(0.3)
    # Welch from sums and sums of squares equals scipy's test on the raw values
    a, b = np.array([1.0, 2, 3, 4, 9]), np.array([2.0, 4, 6, 8, 11, 3])
    w = st.welch(a.sum(), (a * a).sum(), len(a), b.sum(), (b * b).sum(), len(b))
    assert w["p_value"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    # chi-square: 520 / 480 against 50 / 50 -> chi2 = 1.6
    assert st.sample_ratio_mismatch({"a": 520, "b": 480}, {"a": 0.5, "b": 0.5})["chi2"] == pytest.approx(1.6)
    assert math.isnan(st.proportion_mde(0.05, 0, 10))


def test_a_control_that_is_not_a_variant_is_refused():
    with pytest.raises(ValueError, match="control variant 'base'"):
        st.analyse({}, HALF, "base")
