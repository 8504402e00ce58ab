"""The evaluator: the temporal split, both modes, the report, and the reference rows of Online Retail."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

import recs
from conf import load_config
from spark_jobs.offline import evaluation
from spark_jobs.offline.split import EvaluationError, temporal_split
from tests.helpers import ev, events_frame

pytestmark = pytest.mark.spark
SHARED = Path(__file__).resolve().parents[4] / "shared"
CUTOFF = dt.date(2026, 11, 10)


def at(day: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, 12)


@pytest.fixture
def split(spark, make_config):
    rows = [
        ev("1", "u1", "a", when=at(1)), ev("2", "u1", "b", when=at(2)), ev("3", "u2", "a", when=at(3)),
        ev("4", "u3", "c", "view", at(4)),
        ev("5", "u1", "a", when=at(11)), ev("6", "u1", "c", when=at(12)),     # u1: a repeat and a new item
        ev("7", "u2", "a", when=at(11)),                                      # u2: only a repeat
        ev("8", "u3", "c", "view", at(11)),                                   # views are not relevant
        ev("9", "new", "a", when=at(11)),                                     # no train history: not evaluated
        ev("10", "u1", "b", when=at(20)),                                     # after the end
    ]
    catalog = spark.createDataFrame([(x, "Cat > " + x) for x in "abc"], "item_id string, category string")
    return temporal_split(events_frame(spark, rows), catalog, make_config(), CUTOFF, dt.date(2026, 11, 15))


def test_split_keeps_train_before_the_cutoff_and_relevant_purchases_of_known_users(split):
    assert sorted((r.user_id, r.item_id) for r in split.relevant.collect()) == [("u1", "a"), ("u1", "c"),
                                                                                 ("u2", "a")]
    assert sorted(r.user_id for r in split.users.collect()) == ["u1", "u2"]
    assert split.n_train_items == 3
    assert split.train_events.filter(f"event_time >= '{CUTOFF}'").count() == 0


def test_modes_count_different_users_and_buy_again_only_allows_repeats(spark, split, make_config):
    config = make_config(eval__ks=[1, 2])
    results = evaluation.evaluate(spark, split, config, ["popular_all_time", "buy_again"], progress=lambda _: None)
    assert results["users"] == {"repeats": 2, "discovery": 1}       # u2 has only a repeat
    assert "buy_again" not in results["results"]["discovery"]
    # all-time popularity before the cutoff: a (2 purchases) > b (1) > c (a view): u1 and u2 hit a at rank 1
    repeats = results["results"]["repeats"]["popular_all_time"]
    assert repeats[1]["hit_rate"] == 1.0 and repeats[1]["precision"] == 1.0
    # discovery: u1's a and b are removed from the list, leaving c, which u1 bought
    discovery = results["results"]["discovery"]["popular_all_time"]
    assert discovery[1]["ndcg"] == 1.0 and discovery[1]["users"] == 1
    own = results["results"]["repeats"]["buy_again"]
    assert own[2]["recall"] == pytest.approx((1 / 2 + 1) / 2)   # u1 gets a, b (a hit); u2 gets a (+ padding)


def test_unknown_source_and_empty_test_window_say_what_is_wrong(spark, split, make_config):
    with pytest.raises(EvaluationError, match="unknown eval source"):
        evaluation.evaluate(spark, split, make_config(), ["nope"])
    with pytest.raises(EvaluationError, match="nothing to evaluate"):
        temporal_split(split.train_events, split.catalog, make_config(), dt.date(2030, 1, 1),
                                  dt.date(2030, 1, 2))


def test_recs_eval_on_the_synthetic_sample_writes_the_report(tmp_path, capsys):
    out = tmp_path / "report"
    assert recs.main(["--set", "cart.validation_days=3", "eval", "--cutoff", "2026-11-11", "--end", "2026-11-14",
                      "--sources", "popular_recent,buy_again,ease", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(ii) discovery" in printed and "| ease |" in printed and "ndcg@20" in printed
    results = json.loads((out / "results.json").read_text())
    assert set(results["results"]) == {"repeats", "discovery"}
    for sources in results["results"].values():
        for by_k in sources.values():
            assert set(by_k) == {"10", "20"}
            assert 0 <= by_k["20"]["ndcg"] <= 1 and 0 < by_k["20"]["coverage"] <= 1
    ease, popular = (results["results"]["discovery"][s]["20"]["ndcg"] for s in ("ease", "popular_recent"))
    assert ease > popular
    assert (out / "ndcg.png").stat().st_size > 1000 and "![NDCG](ndcg.png)" in (out / "report.md").read_text()
    cart = results["cart"]                                 # the cart protocol: validation before the cutoff
    assert cart["validation"]["window"] == ["2026-11-08", "2026-11-10"] and cart["test"]["orders"] > 0
    assert cart["chosen_on_validation"] in [r["order"] for r in cart["validation"]["results"]]
    assert "Cart completion, K = 10" in printed and "served: cart.order" in (out / "report.md").read_text()


def reference_rows() -> dict[str, list[float]]:
    """NDCG rows of ../shared/EVALUATION.md: name -> [(i)@10, (i)@20, (ii)@10, (ii)@20] (None for '–')."""
    rows = {}
    for line in (SHARED / "EVALUATION.md").read_text().splitlines():
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"[0-9.]+", cells[1]):
            rows[cells[0]] = [float(c) if re.fullmatch(r"[0-9.]+", c) else None for c in cells[1:]]
    return rows


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "datasets" / "online_retail" / "online_retail.csv.gz").is_file(),
                    reason="the complete Online Retail dataset is not beside the checkout")
def test_baselines_on_online_retail_match_the_reference_rows(spark, tmp_path):
    from data_samples.online_retail import convert
    from spark_jobs.ingest import read_validated

    convert(SHARED / "datasets" / "online_retail" / "online_retail.csv.gz", tmp_path / "raw")
    config = load_config(env="retail_full", environ={}, overrides={
        "paths.raw": str(tmp_path / "raw"), "paths.lake": str(tmp_path / "lake"), "spark.shuffle_partitions": 2})
    events, catalog, _ = read_validated(spark, config, config.eval.end)
    split = temporal_split(events, catalog, config, config.eval.cutoff, config.eval.end)
    results = evaluation.evaluate(spark, split, config, ["popular_all_time", "popular_recent", "buy_again"])
    assert results["users"] == {"repeats": 1395, "discovery": 1294}
    reference = reference_rows()
    names = {"popular_all_time": "popularity, all time", "popular_recent": "popularity, last 30 days",
             "buy_again": "user's own past items (buy again), padded with recent popularity"}
    for source, name in names.items():
        expected = reference[name]
        got = [results["results"][mode].get(source, {}).get(k, {}).get("ndcg")
               for mode in ("repeats", "discovery") for k in (10, 20)]
        for want, have in zip(expected, got):
            if want is not None:
                assert have == pytest.approx(want, abs=0.005), (source, got, expected)


def test_als_search_picks_a_grid_point_on_the_validation_window(tmp_path, capsys):
    out = tmp_path / "report"
    assert recs.main(["--set", "als.search.factors=[2,16]", "--set", "als.search.regularization=[0.1]",
                      "--set", "als.search.alpha=[1.0]", "--set", "als.search.validation_days=3",
                      "eval", "--cutoff", "2026-11-12", "--end", "2026-11-14", "--sources", "als_implicit",
                      "--search", "--no-cart", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("als search AlsParams(") == 2 and "als search: best" in printed
    results = json.loads((out / "results.json").read_text())
    tuned = results["als_search"]
    assert tuned["validation"] == ["2026-11-09", "2026-11-11"]        # before the cutoff, never the test window
    assert [row["factors"] for row in tuned["grid"]] == [2, 16]
    best = max(tuned["grid"], key=lambda r: r["ndcg@20_repeats"] + r["ndcg@20_discovery"])
    assert tuned["best"]["factors"] == best["factors"] == results["als"]["factors"]

