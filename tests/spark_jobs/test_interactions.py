"""The interactions job: weights per event type, decay by age, and no leakage from later days."""

from __future__ import annotations

import datetime as dt

import pytest

from spark_jobs import interactions, lake
from tests import helpers

pytestmark = pytest.mark.spark
RUN = dt.date(2026, 11, 10)
END = dt.datetime(2026, 11, 11)  # end of the run date, UTC


def ev(event_id, user, item, event_type, when, quantity=1):
    return helpers.ev(event_id, user, item, event_type, when, quantity, order="o" if event_type == "purchase" else None)


def frame(spark, rows):
    return helpers.events_frame(spark, rows)


def weights_of(df):
    return {(r.user_id, r.item_id): r for r in df.collect()}


def test_weight_is_event_weight_times_half_life_decay(spark, make_config):
    settings = make_config().interactions
    half = settings.half_life_days
    rows = [
        ev("a", "u1", "i1", "view", END - dt.timedelta(days=half)),          # 1.0 * 0.5
        ev("b", "u1", "i1", "purchase", END - dt.timedelta(days=2 * half), 3),  # 5.0 * 0.25
        ev("c", "u1", "i2", "add_to_cart", END - dt.timedelta(seconds=1)),  # ~3.0
    ]
    out = weights_of(interactions.transform(frame(spark, rows), RUN, settings))
    w = settings.weights
    assert out[("u1", "i1")].weight == pytest.approx(w["view"] * 0.5 + w["purchase"] * 0.25)
    assert out[("u1", "i2")].weight == pytest.approx(w["add_to_cart"], rel=1e-4)
    first = out[("u1", "i1")]
    assert (first.n_events, first.n_views, first.n_purchases, first.quantity_purchased) == (2, 1, 1, 3)
    assert first.first_time == END - dt.timedelta(days=2 * half)


def test_events_after_the_run_date_never_count(spark, make_config):
    settings = make_config().interactions
    rows = [
        ev("a", "u1", "i1", "view", END - dt.timedelta(hours=1)),
        ev("b", "u1", "i1", "purchase", END),                        # the next day: excluded
        ev("c", "u2", "i9", "purchase", END + dt.timedelta(days=3)),  # a later day: excluded
    ]
    out = weights_of(interactions.transform(frame(spark, rows), RUN, settings))
    assert set(out) == {("u1", "i1")}
    assert out[("u1", "i1")].n_events == 1 and out[("u1", "i1")].last_time < END


def test_lookback_window_and_duplicate_event_ids_across_days(spark, make_config):
    settings = make_config(interactions__lookback_days=7).interactions
    rows = [
        ev("old", "u1", "i1", "purchase", END - dt.timedelta(days=8)),  # outside the lookback
        ev("x", "u1", "i2", "view", END - dt.timedelta(days=2)),
        ev("x", "u1", "i2", "view", END - dt.timedelta(days=2)),        # the same event re-sent
    ]
    out = weights_of(interactions.transform(frame(spark, rows), RUN, settings))
    assert set(out) == {("u1", "i2")}
    assert out[("u1", "i2")].n_events == 1


def test_pairs_whose_weight_is_not_positive_are_dropped(spark, make_config):
    settings = make_config().interactions
    when = END - dt.timedelta(hours=2)
    rows = [ev("a", "u1", "i1", "remove_from_cart", when), ev("b", "u1", "i2", "view", when)]
    assert set(weights_of(interactions.transform(frame(spark, rows), RUN, settings))) == {("u1", "i2")}


def test_main_reads_only_partitions_up_to_the_run_date(spark, make_config):
    config = make_config()
    for day, rows in {
        RUN - dt.timedelta(days=1): [ev("a", "u1", "i1", "view", END - dt.timedelta(days=1, hours=3))],
        RUN: [ev("b", "u1", "i2", "purchase", END - dt.timedelta(hours=3))],
        RUN + dt.timedelta(days=1): [ev("c", "u1", "i3", "purchase", END + dt.timedelta(hours=3))],
    }.items():
        frame(spark, rows).write.mode("overwrite").parquet(lake.curated(config.paths.lake, "events", day))
    report = interactions.main(spark, config, RUN)
    assert (report["pairs"], report["users"], report["items"]) == (2, 1, 2)
    written = weights_of(spark.read.parquet(lake.curated(config.paths.lake, "interactions", RUN)))
    assert set(written) == {("u1", "i1"), ("u1", "i2")}


def test_main_without_curated_events_for_the_date_says_to_ingest_first(spark, make_config):
    config = make_config()
    with pytest.raises(interactions.InteractionsError, match="run `recs ingest --date 2026-11-10` first"):
        interactions.main(spark, config, RUN)


def test_decay_from_the_users_last_event_keeps_a_rare_buyers_history(spark, make_config):
    settings = make_config(**{"interactions.decay_from": "user_last_event"}).interactions
    half = settings.half_life_days
    last = END - dt.timedelta(days=180)                                   # away for six months
    rows = [ev("a", "u1", "i1", "purchase", last), ev("b", "u1", "i2", "purchase", last - dt.timedelta(days=half)),
            ev("c", "u2", "i1", "view", END - dt.timedelta(days=half))]
    out = weights_of(interactions.transform(frame(spark, rows), RUN, settings))
    w = settings.weights
    assert out[("u1", "i1")].weight == pytest.approx(w["purchase"])              # the user's last: undecayed
    assert out[("u1", "i2")].weight == pytest.approx(w["purchase"] * 0.5)        # half-life before it
    assert out[("u2", "i1")].weight == pytest.approx(w["view"])
    by_date = weights_of(interactions.transform(frame(spark, rows), RUN, make_config().interactions))
    assert by_date[("u1", "i1")].weight == pytest.approx(w["purchase"] * 0.5 ** (180 / half))
