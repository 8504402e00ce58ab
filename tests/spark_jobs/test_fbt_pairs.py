"""Frequently bought together on hand-made baskets with exact support, confidence and lift."""

from __future__ import annotations

import pytest

from spark_jobs import fbt_pairs
from tests.helpers import baskets

pytestmark = pytest.mark.spark
CHUNK = 4      # item products per sparse product: a few contexts each, so pairs are summed across chunks

ORDERS = {
    "o1": ["a", "b", "c"],
    "o2": ["a", "b"],
    "o3": ["a", "c"],
    "o4": ["b", "d"],
    "o5": ["a", "b", "d"],
}


def stats_of(df):
    return {(r.item_id, r.other_id): r for r in df.collect()}


def test_support_confidence_and_lift(spark, make_config):
    settings = make_config(fbt__min_support=1, fbt__min_confidence=0.0, fbt__min_lift=0.0).fbt
    got = stats_of(fbt_pairs.transform(baskets(spark, ORDERS), settings, CHUNK))
    # orders: 5; a in 4, b in 4, c in 2, d in 2; (a,b) together in 3
    ab = got[("a", "b")]
    assert ab.support == 3 and ab.confidence == pytest.approx(3 / 4) and ab.lift == pytest.approx((3 / 4) / (4 / 5))
    ca = got[("c", "a")]
    assert ca.support == 2 and ca.confidence == pytest.approx(1.0) and ca.lift == pytest.approx(1.0 / (4 / 5))
    bd = got[("b", "d")]
    assert bd.confidence == pytest.approx(2 / 4) and bd.lift == pytest.approx((2 / 4) / (2 / 5))
    assert ("c", "d") not in got                                 # never in one order
    assert got[("a", "b")].score == got[("a", "b")].confidence


def test_thresholds_and_top_k_from_configuration(spark, make_config):
    settings = make_config(fbt__min_support=2, fbt__min_confidence=0.6, fbt__min_lift=1.0, fbt__top_k=1).fbt
    got = stats_of(fbt_pairs.transform(baskets(spark, ORDERS), settings, CHUNK))
    assert all(r.support >= 2 and r.confidence >= 0.6 and r.lift >= 1.0 and r.rank == 1 for r in got.values())
    assert set(got) == {("c", "a"), ("d", "b")}          # a->b: lift 0.94 < 1; the rest under support/confidence


def test_large_orders_are_skipped_and_a_repeated_line_counts_once(spark, make_config):
    settings = make_config(fbt__min_support=1, fbt__min_confidence=0.0, fbt__min_lift=0.0,
                           fbt__max_order_items=3).fbt
    orders = {"o1": ["a", "b", "b"], "big": ["a", "b", "c", "d"]}
    got = stats_of(fbt_pairs.transform(baskets(spark, orders), settings, CHUNK))
    assert got[("a", "b")].support == 1 and got[("a", "b")].confidence == 1.0
    assert ("a", "c") not in got


def test_an_item_with_too_few_partners_keeps_pairs_down_to_the_sparse_support(spark, make_config):
    settings = make_config(fbt__min_support=3, fbt__sparse_min_support=2, fbt__min_partners=1,
                           fbt__min_confidence=0.0, fbt__min_lift=0.0).fbt
    got = stats_of(fbt_pairs.transform(baskets(spark, ORDERS), settings, CHUNK))
    assert ("a", "b") in got and ("a", "c") not in got           # a has a partner at support 3: c (2) stays out
    assert got[("c", "a")].support == 2 and got[("d", "b")].support == 2   # c and d have none: support 2 kept
    assert ("c", "b") not in got                                  # support 1 is under the sparse floor
    strict = make_config(fbt__min_support=3, fbt__min_partners=0, fbt__min_confidence=0.0, fbt__min_lift=0.0).fbt
    assert set(stats_of(fbt_pairs.transform(baskets(spark, ORDERS), strict, CHUNK))) == {("a", "b"), ("b", "a")}
