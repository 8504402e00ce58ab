"""Ranking metrics on hand-made lists whose values are worked out by hand."""

from __future__ import annotations

import math

import pytest

from models import metrics

pytestmark = pytest.mark.spark


def lists(spark, rows):
    return spark.createDataFrame(rows, "user_id string, item_id string, rank int")


def pairs(spark, rows, second="item_id string"):
    return spark.createDataFrame(rows, f"user_id string, {second}" if "user" not in second else second)


@pytest.fixture
def case(spark):
    recs = lists(spark, [("a", "x", 1), ("a", "z", 2), ("a", "y", 3), ("a", "q", 4),
                         ("c", "x", 1)])                       # c is not evaluated: no test items
    relevant = spark.createDataFrame([("a", "x"), ("a", "y"), ("b", "w")], "user_id string, item_id string")
    categories = spark.createDataFrame([("x", "c1"), ("z", "c1"), ("y", "c2")], "item_id string, category string")
    novelty = spark.createDataFrame([("x", 1.0), ("z", 2.0), ("y", 3.0)], "item_id string, novelty double")
    return recs, relevant, categories, novelty


def test_per_user_values_match_the_definitions(spark, case):
    recs, relevant, categories, novelty = case
    users = {r.user_id: r for r in metrics.per_user(recs, relevant, 3, categories, novelty).collect()}
    assert set(users) == {"a", "b"}
    a, b = users["a"], users["b"]
    assert a.hits == 2 and a.precision == pytest.approx(2 / 3) and a.recall == pytest.approx(1.0)
    dcg = 1 + 1 / math.log2(4)
    assert a.ndcg == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    assert a.map == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert a.hit_rate == 1.0
    assert a.diversity == pytest.approx(1 - 2 / 6)            # (x, z) share a category among 3 pairs
    assert a.novelty == pytest.approx((1 + 2 + 3) / 3)
    # an evaluated user without a list scores zero, and has no diversity or novelty
    assert (b.hits, b.precision, b.recall, b.ndcg, b.map, b.hit_rate) == (0, 0, 0, 0, 0, 0)
    assert b.diversity is None and b.novelty is None


def test_summary_averages_users_and_counts_coverage_over_train_items(spark, case):
    recs, relevant, categories, novelty = case
    per_user = metrics.per_user(recs, relevant, 3, categories, novelty)
    summary = metrics.summarize(per_user, recs, 3, n_train_items=6)
    assert summary["users"] == 2
    assert summary["precision"] == pytest.approx((2 / 3) / 2)
    assert summary["hit_rate"] == pytest.approx(0.5)
    assert summary["coverage"] == pytest.approx(3 / 6)          # x, z, y; q is beyond K, c is not evaluated


def test_ideal_dcg_cuts_at_the_relevant_count(spark, case):
    recs, relevant, _, _ = case
    only_hit_first = lists(spark, [("b", "w", 1), ("b", "v", 2)])
    row = metrics.per_user(only_hit_first, relevant.filter("user_id = 'b'"), 10).first()
    assert row.ndcg == pytest.approx(1.0) and row.map == pytest.approx(1.0) and row.recall == 1.0
    assert row.precision == pytest.approx(0.1)


def test_novelty_is_self_information_of_train_users(spark):
    train = spark.createDataFrame([("u1", "x"), ("u2", "x"), ("u3", "x"), ("u4", "x"), ("u1", "y")],
                                  "user_id string, item_id string")
    got = {r.item_id: r.novelty for r in metrics.item_novelty(train).collect()}
    assert got == {"x": pytest.approx(0.0), "y": pytest.approx(2.0)}
