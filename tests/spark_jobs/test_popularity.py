"""Popularity lists: all-time vs recent windows, trending against a baseline, per category."""

from __future__ import annotations

import datetime as dt

import pytest

from spark_jobs import popularity
from tests.helpers import ev, events_frame

pytestmark = pytest.mark.spark
RUN = dt.date(2026, 11, 30)
END = dt.datetime(2026, 12, 1)


def days_ago(n):
    return END - dt.timedelta(days=n, hours=1)


@pytest.fixture
def lists(spark, make_config):
    config = make_config(popularity__recent_days=7, popularity__trend_days=7, popularity__trend_baseline_days=21,
                         popularity__trend_prior=1.0)
    rows = ([ev(f"old{n}", f"u{n}", "old", "purchase", days_ago(60)) for n in range(10)]      # big, long ago
            + [ev(f"new{n}", f"u{n}", "new", "purchase", days_ago(2)) for n in range(4)]      # rising now
            + [ev(f"st{n}", f"u{n}", "steady", "purchase", days_ago(3 + 4 * n)) for n in range(6)]
            + [ev("v", "u1", "viewed", "view", days_ago(1)), ev("late", "u1", "new", "purchase", END)])
    catalog = spark.createDataFrame([("old", "Home > Mugs"), ("new", "Toys > Cars"), ("steady", "Home > Mugs")],
                                    "item_id string, category string")
    out = popularity.transform(events_frame(spark, rows), catalog, RUN, config.popularity,
                               config.interactions.weights, config.interactions.lookback_days)
    return {(r.list, r.scope): [(r.item_id, r.score) for r in sorted(group, key=lambda g: g.rank)]
            for (r, group) in _grouped(out.collect())}


def _grouped(rows):
    keys = {}
    for r in rows:
        keys.setdefault((r.list, r.scope), []).append(r)
    return [(group[0], group) for group in keys.values()]


def test_all_time_counts_weighted_events_before_the_end_of_the_run_date(lists):
    items = dict(lists[("all_time", "all")])
    assert items["old"] == 50.0 and items["new"] == 20.0 and items["steady"] == 30.0   # purchase weight 5
    assert items["viewed"] == 1.0                                                      # a view weighs 1
    assert [i for i, _ in lists[("all_time", "all")]][0] == "old"


def test_recent_window_forgets_old_sales(lists):
    recent = dict(lists[("recent", "all")])
    assert "old" not in recent and recent["new"] == 20.0 and recent["steady"] == 5.0   # only day 3 of 3, 7, 11, ...


def test_trending_compares_the_last_week_with_the_weeks_before(lists):
    trending = [item for item, _ in lists[("trending", "all")]]
    assert trending[0] == "new"
    scores = dict(lists[("trending", "all")])
    # steady (days 3, 7, 11, ... 23 ago, an hour before midnight): day 3 in the last 7 days (5),
    # days 7..23 in the 21 days before (25, i.e. 25 * 7/21 per week); prior 1
    assert scores["steady"] == pytest.approx((5 + 1) / (25 * 7 / 21 + 1))


def test_per_category_lists_use_the_top_category_level(lists):
    assert [i for i, _ in lists[("all_time", "Home")]] == ["old", "steady"]
    assert [i for i, _ in lists[("all_time", "Toys")]] == ["new"]


def test_segment_lists_rank_recent_sales_within_each_country_and_device(spark):
    base = [("g1", "u1", "tea", "GB", "mobile"), ("g2", "u2", "tea", "GB", "desktop"),
            ("g3", "u3", "mug", "GB", "mobile"), ("f1", "u4", "wine", "FR", None), ("f2", "u5", "wine", " FR ", ""),
            ("f3", "u6", "mug", "FR", None), ("x1", "u7", "mug", "", None)]
    rows = [ev(e, u, i, when=days_ago(1)).asDict() | {"country": c, "device": d} for e, u, i, c, d in base]
    rows.append(ev("old", "u8", "mug", when=days_ago(30)).asDict() | {"country": "GB", "device": "mobile"})
    out = popularity.segment_lists(events_frame(spark, rows), END - dt.timedelta(days=7), END,
                                   ["country", "device"], {"purchase": 5.0})
    got = {}
    for r in out.collect():
        assert r.list == "recent"
        got.setdefault(r.scope, {})[r.item_id] = r.score
    assert got == {"country:GB": {"tea": 10.0, "mug": 5.0}, "country:FR": {"wine": 10.0, "mug": 5.0},
                   "device:mobile": {"tea": 5.0, "mug": 5.0}, "device:desktop": {"tea": 5.0}}
