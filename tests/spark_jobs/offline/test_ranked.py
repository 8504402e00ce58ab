"""The ranking stage in Spark: features as of a cutoff, candidates with provenance, final lists under the rules."""

from __future__ import annotations

import datetime as dt

import pytest

from spark_jobs import ingest
from spark_jobs.offline import candidates, evaluation, features, ranked, sources
from spark_jobs.offline.split import as_of, temporal_split
from tests.helpers import LIGHT_RANKING, ev, events_frame

pytestmark = pytest.mark.spark
CUTOFF = dt.date(2026, 11, 10)


def at(day: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, 12)


def small_build(spark, make_config, factors=None, sources=("buy_again", "popular_recent"), users=("u1",)):
    """features.build over the candidates a, b, c of `users` on a small history (events on both sides of CUTOFF)."""
    rows = [ev("1", "u1", "a", when=at(1)), ev("2", "u1", "a", when=at(5)), ev("3", "u1", "b", "view", at(6)),
            ev("4", "u2", "a", when=at(7)),
            ev("5", "u1", "b", when=at(10)), ev("6", "u1", "c", when=at(11)), ev("7", "u2", "a", when=at(12))]
    catalog = spark.createDataFrame([(x, f"T {x}", "Cat > " + x, "B", 2.0, True, at(1), False, None) for x in "abc"],
                                    "item_id string, title string, category string, brand string, price double, "
                                    "in_stock boolean, created_at timestamp, promoted boolean, margin_tier string")
    config = make_config(ranking__sources=list(sources))
    view = as_of(events_frame(spark, rows), catalog, config, CUTOFF)
    merged = spark.createDataFrame([(u, x, None, None, None, None, 1.0, "als", None) for u in users for x in "abc"],
                                   "user_id string, item_id string, buy_again_score double, buy_again_rank double, "
                                   "popular_recent_score double, popular_recent_rank double, n_sources double, "
                                   "source string, anchor string").repartition(2)   # as candidates come: split
    fitted_recent = spark.createDataFrame([], "item_id string, score double")
    return config, features.build(merged, view, fitted_recent, fitted_recent, config, factors)


def test_features_see_nothing_from_the_cutoff_on(spark, make_config):
    config, built = small_build(spark, make_config)
    got = {r.item_id: r for r in built.collect()}
    assert got["a"].ui_purchases == 2 and got["a"].ui_purchase_days == 2
    assert got["a"].ui_days_since_last == pytest.approx(4.5)          # day 5 noon -> midnight of day 10
    assert got["b"].ui_purchases == 0 and got["b"].ui_last_event == features.EVENT_CODES["view"]
    assert got["c"].ui_events is None and got["c"].item_buyers is None   # c only appears after the cutoff
    assert got["a"].item_buyers == 2                                       # u1 and u2 bought a before day 10
    assert got["a"].user_purchases == 2 and got["a"].user_repeat_share == 1.0
    assert got["a"].uc_share == pytest.approx(got["a"].ui_weight / (got["a"].ui_weight + got["b"].ui_weight))
    assert got["a"].uc_purchases == 2 and got["b"].uc_purchases == 0 and got["a"].ub_share == 1.0
    assert got["a"].purchased and not got["b"].purchased
    assert set(features.names(config)) <= set(got["a"].asDict())


def test_user_features_are_the_same_whichever_users_hold_candidates(spark, make_config):
    """The user-side tables are computed only for the frame's users: u1's features do not depend on u2 being there."""
    _, alone = small_build(spark, make_config)
    _, both = small_build(spark, make_config, users=("u1", "u2"))
    both_rows = {(r.user_id, r.item_id): r.asDict() for r in both.collect()}
    assert {r.item_id: r.asDict() for r in alone.collect()} == {i: both_rows[("u1", i)] for i in "abc"}
    assert both_rows[("u2", "a")]["ui_purchases"] == 1 and both_rows[("u2", "a")]["user_purchases"] == 1
    assert both_rows[("u2", "b")]["ui_events"] is None          # u2 never touched b: u1's history is not u2's


def test_als_dot_scores_every_candidate_with_the_als_factors(spark, make_config):
    users = spark.createDataFrame([("u1", [1.0, 2.0]), ("u2", [5.0, 5.0])], "user_id string, factors array<float>")
    items = spark.createDataFrame([("a", [3.0, 4.0]), ("b", [-1.0, 0.5])], "item_id string, factors array<float>")
    config, built = small_build(spark, make_config, (users, items), ("als", "buy_again", "popular_recent"))
    got = {r.item_id: r.als_dot for r in built.collect()}
    assert got == {"a": pytest.approx(11.0), "b": pytest.approx(0.0), "c": None}    # c has no factors
    assert "als_dot" in features.names(config)
    _, without = small_build(spark, make_config, None, ("als", "buy_again", "popular_recent"))
    assert {r.als_dot for r in without.collect()} == {None}                     # ALS not fitted: missing


def exchanges_above(node, column: str) -> int | None:
    """Hash shuffles on the way from `node` down to the leaf that outputs `column`; None: no such leaf."""
    children = [node.children().apply(i) for i in range(node.children().size())]
    if not children:
        return 0 if column in node.output().toString() else None
    for child in children:
        below = exchanges_above(child, column)
        if below is not None:
            return below + (node.nodeName() == "Exchange" and "hashpartitioning" in node.toString())
    return None


def test_the_candidate_frame_is_shuffled_once(spark, make_config):
    """The wide candidate frame meets the item tables by broadcast and the user-side tables on user_id alone:
    joins keyed on (user, item), (user, category) or (user, brand) would each shuffle all of it again."""
    _, built = small_build(spark, make_config)
    plan = built._jdf.queryExecution().executedPlan().initialPlan()    # the physical plan before AQE changes it
    assert exchanges_above(plan, "n_sources") == 1


@pytest.fixture(scope="module", autouse=True)
def released(spark):
    """The ranking stage caches splits and fitted sources: free them for the modules after this one."""
    yield
    spark.catalog.clearCache()


@pytest.fixture(scope="module")
def sample(spark, tmp_path_factory):
    """The committed synthetic sample, validated on the fly, with a small ranker configuration."""
    from conf import load_config

    lake = tmp_path_factory.mktemp("lake")
    config = load_config(env="local", environ={}, overrides={**LIGHT_RANKING, "paths.lake": str(lake)})
    events, catalog, _ = ingest.read_validated(spark, config, config.eval.end)
    return config, events.cache(), catalog.cache()


@pytest.mark.slow
@pytest.mark.parametrize("discovery", [False])   # discovery: tests/spark_jobs/test_ranking_job.py (the default)
def test_final_lists_follow_the_rules_and_carry_reasons(spark, sample, discovery):
    config, events, catalog = sample
    config = config.model_copy(deep=True)
    config.rerank.max_per_category, config.rerank.window = 2, 6
    split = temporal_split(events, catalog, config, config.eval.cutoff, config.eval.end)
    model = ranked.train(spark, split.train_events, catalog, config, split.cutoff, discovery)
    assert model.features == features.names(config) and model.training["positives"] > 0
    rules = ranked.mode_rules(config.rerank, discovery)
    fitted = candidates.fit(spark, split, config)
    lists = ranked.final_lists(spark, split, split.users, config, model, rules, discovery, 20, fitted).cache()
    rows = lists.join(catalog.select("item_id", "category", "in_stock"), "item_id").toPandas()

    assert rows.groupby("user_id")["rank"].max().max() <= 20
    assert rows["reason"].str.len().min() > 0 and rows["reason"].nunique() > 3
    assert rows["in_stock"].all()
    for _, user in rows.sort_values("rank").groupby("user_id"):
        cats = user["category"].tolist()
        assert all(max(cats[i:i + 6].count(c) for c in cats[i:i + 6]) <= 2 for i in range(len(cats)))
        assert user["rank"].tolist() == list(range(1, len(user) + 1))
        assert user["score"].is_monotonic_decreasing        # stored lists read in score order
    seen = split.train.select("user_id", "item_id")
    overlap = lists.join(seen, ["user_id", "item_id"]).count()
    assert (overlap == 0) if discovery else (overlap > 0)
    relevant = split.relevant if not discovery else \
        split.relevant.join(seen, ["user_id", "item_id"], "left_anti")
    hits = lists.join(relevant, ["user_id", "item_id"]).count()
    context = sources.Context(spark, split, config, ranking=False)
    popular = evaluation.source_lists(context, ["popular_recent"], 20, discovery)["popular_recent"]
    assert hits > popular.join(relevant, ["user_id", "item_id"]).count()   # better than the recent best sellers


def test_too_few_training_users_add_earlier_label_windows_until_the_history_ends(spark, sample):
    config, events, catalog = sample
    cutoff = config.eval.cutoff                                  # the sample: 2026-11-01 .. 11-14, 3-day windows
    cache: dict = {}                                             # each window's split and sources, fitted once

    def windows(**settings):
        light = config.model_copy(deep=True)
        light.ranking.sources, light.ranking.label_days = ["buy_again", "popular_recent"], 3
        for key, value in settings.items():
            setattr(light.ranking, key, value)
        return ranked.train(spark, events, catalog, light, cutoff, True, cache).training

    floor = windows(label_windows=1, min_train_users=0)
    assert len(floor["windows"]) == 1
    more = windows(label_windows=1, min_train_users=floor["users"] + 1, max_label_windows=3)
    assert len(more["windows"]) == 2 and more["users"] > floor["users"]            # stops once above the floor
    assert more["windows"] == [["2026-11-08", "2026-11-10"], ["2026-11-05", "2026-11-07"]]   # back to back
    every = windows(label_windows=1, min_train_users=10**6, max_label_windows=12)
    assert every["windows"][-1] == ["2026-11-02", "2026-11-04"]      # the history ends: no window before 11-01


def test_ranker_search_picks_its_settings_on_a_validation_window_before_the_cutoff(spark, sample):
    from spark_jobs.offline import ranker_search

    config, events, catalog = sample
    config = config.model_copy(deep=True)
    config.ranking.sources, config.ranking.label_days = ["buy_again", "popular_recent"], 3
    grid = [{}, {"max_depth": 1, "n_estimators": 2}, {"rerank.max_per_category": 1, "rerank.window": 20}]
    config.ranking.search.grid, config.ranking.search.validation_days = grid, 3
    split = temporal_split(events, catalog, config, dt.date(2026, 11, 12), dt.date(2026, 11, 14))
    printed = []
    settings, tuned = ranker_search.search(spark, split, config, printed.append)
    assert tuned["validation"] == ["2026-11-09", "2026-11-11"] and tuned["mode"] == "discovery"
    assert [row["point"] for row in tuned["grid"]] == grid
    best = max(tuned["grid"], key=lambda row: row["ndcg@20"])
    assert tuned["best"] == best["point"] and len(printed) == 4
    assert settings.ranking.params == {**config.ranking.params,
                                       **{k: v for k, v in best["point"].items() if not k.startswith("rerank.")}}
    # one item per category in a list: the same ranker, other lists (the rules alone moved the figure)
    default, capped = tuned["grid"][0], tuned["grid"][2]
    assert capped["queries"] == default["queries"] and capped["ndcg@20"] != default["ndcg@20"]
    assert ranker_search.settings_of(config, {"label_windows": 2}).ranking.label_windows == 2
    ruled = ranker_search.settings_of(config, {"rerank.max_per_category": 5, "max_depth": 2})
    assert ruled.rerank.max_per_category == 5 and ruled.ranking.params["max_depth"] == 2
    assert "rerank.max_per_category" not in ruled.ranking.params
