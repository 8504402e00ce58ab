"""The XGBoost ranker on its own: seeded training, what it learns, its saved form, batches cut per user."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from conf import load_config
from models import ranker
from models.rerank import RERANK_COLUMNS

FEATURES = ["signal", "noise"]
# reason templates as the source registry (spark_jobs/offline/sources.py) hands them to the ranker
REASONS = {"item_knn": "similar_to:{}", "category_popular": "popular_in:{}", "ease": "for_you",
           "fbt": "bought_with:{}", "als": "for_you", "buy_again": "buy_again"}


def training_rows(seed: int = 0, users: int = 60, per_user: int = 20) -> pd.DataFrame:
    """Each user's bought items are those with the highest `signal` (plus noise): the ranker must find it."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        signal = rng.normal(size=per_user)
        label = (signal + 0.3 * rng.normal(size=per_user)) > 1.0
        for i in range(per_user):
            rows.append({"user_id": f"u{u:03d}", "item_id": f"i{i:02d}", "signal": signal[i],
                         "noise": rng.normal(), "label": float(label[i])})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def settings():
    return load_config(env="local", environ={}, overrides={"ranking.params.n_estimators": 30}).ranking


def test_training_is_seeded_and_learns_the_signal(settings):
    rows = training_rows()
    first = ranker.fit(rows, FEATURES, settings, seed=7, digest="abc")
    again = ranker.fit(rows.sample(frac=1.0, random_state=3), FEATURES, settings, seed=7, digest="abc")
    assert first.model == again.model                       # row order and repeated runs do not matter
    assert first.importances["signal"] > 0.8 > first.importances["noise"]
    assert first.training == {"rows": len(rows), "users": 60, "positives": int(rows["label"].sum())}

    test = training_rows(seed=1)
    scores = first.booster().inplace_predict(test[FEATURES].to_numpy(np.float32))
    best = test.assign(s=scores).sort_values("s", ascending=False).groupby("user_id").head(3)
    assert best["label"].mean() > 3 * test["label"].mean()   # the top 3 per user are mostly bought items


def test_no_positive_label_is_an_error_that_says_what_to_do(settings):
    rows = training_rows().assign(label=0.0)
    with pytest.raises(ranker.RankerError, match="label_days"):
        ranker.fit(rows, FEATURES, settings, seed=7, digest="abc")


def test_saved_form_round_trips_and_refuses_another_configuration(settings):
    model = ranker.fit(training_rows(), FEATURES, settings, seed=7, digest="abc")
    document = ranker.to_json(model)
    assert document["features"] == FEATURES and document["digest"] == "abc"
    assert document["params"]["objective"] == "rank:ndcg"
    loaded = ranker.from_json(document, digest="abc")
    assert loaded == model
    with pytest.raises(ranker.RankerError, match="digest abc, not xyz"):
        ranker.from_json(document, digest="xyz")
    with pytest.raises(ranker.RankerError, match="not a saved ranker"):
        ranker.from_json({"format": "pickle"})


def test_batches_are_recut_so_no_user_is_split():
    frame = pd.DataFrame({"user_id": list("aaabbbbcdd"), "x": range(10)})
    batches = [frame.iloc[0:2], frame.iloc[2:5], frame.iloc[5:6], frame.iloc[6:10]]
    chunks = list(ranker.whole_users(iter(batches)))
    assert pd.concat(chunks)["x"].tolist() == list(range(10))
    for chunk in chunks:
        for other in chunks:
            if other is not chunk:
                assert not set(chunk["user_id"]) & set(other["user_id"])


def test_final_lists_scale_scores_apply_rules_and_give_reasons():
    rules = load_config(env="local", environ={}).rerank.model_copy(update={"max_per_category": 1, "window": 2})
    chunk = pd.DataFrame({
        "user_id": ["u"] * 4, "item_id": ["a", "b", "c", "d"],
        "category": ["X", "X", "Y", "Y"], "brand": [None] * 4, "in_stock": [True, True, False, True],
        "promoted": [False] * 4, "created_at": [pd.NaT] * 4, "margin_tier": [None] * 4,
        "purchased": [False, False, False, True],
        "source": ["fbt", "als", "als", "buy_again"], "anchor": ["z", None, None, None]})
    assert set(RERANK_COLUMNS) <= set(chunk.columns)
    out = ranker.final_lists(chunk, np.array([4.0, 3.0, 2.0, 1.0]), rules, dt.date(2026, 11, 14), n=10, pool=10,
                             reasons=REASONS)
    # c is out of stock, d was purchased (dropped by default), b waits for a window without another X
    assert out["item_id"].tolist() == ["a"]
    assert out["reason"].tolist() == ["bought_with:z"]
    assert out["score"].iloc[0] == pytest.approx(1.0)


def test_reason_codes_name_the_source_and_its_anchor():
    assert ranker.reason("item_knn", "85123A", REASONS) == "similar_to:85123A"
    assert ranker.reason("category_popular", "Gifts > Bag", REASONS) == "popular_in:Gifts > Bag"
    assert ranker.reason("ease", None, REASONS) == "for_you"
    assert ranker.reason("fbt", None, REASONS) == "bought_with"
    assert ranker.reason(None, None, REASONS) == "recommended"
    assert ranker.reason("random", None, REASONS) == "recommended"


def test_an_item_held_back_by_a_cap_never_raises_the_stored_score():
    rules = load_config(env="local", environ={}).rerank.model_copy(update={"max_per_category": 1, "window": 2})
    chunk = pd.DataFrame({
        "user_id": ["u"] * 4, "item_id": ["a", "b", "c", "d"], "category": ["X", "X", "Y", "Z"],
        "brand": [None] * 4, "in_stock": [True] * 4, "promoted": [False] * 4, "created_at": [pd.NaT] * 4,
        "margin_tier": [None] * 4, "purchased": [False] * 4, "source": ["als"] * 4, "anchor": [None] * 4})
    out = ranker.final_lists(chunk, np.array([4.0, 3.0, 2.0, 1.0]), rules, dt.date(2026, 11, 14), n=10, pool=10,
                             reasons=REASONS)
    assert out["item_id"].tolist() == ["a", "c", "b", "d"]        # b waits one slot for the X cap
    assert out["score"].is_monotonic_decreasing
    assert out["score"].tolist()[1] == out["score"].tolist()[2]   # b is stored at c's score, not above it


def test_each_user_gets_its_own_list_from_its_best_pool_candidates():
    rules = load_config(env="local", environ={}).rerank
    chunk = pd.DataFrame({
        "user_id": ["u2", "u1", "u2", "u1", "u1"], "item_id": ["a", "a", "b", "b", "c"],
        "category": ["X", "Y", "Z", "W", "V"], "brand": [None] * 5, "in_stock": [True] * 5,
        "promoted": [False] * 5, "created_at": [pd.NaT] * 5, "margin_tier": [None] * 5, "purchased": [False] * 5,
        "source": ["als", "item_knn", "als", "item_knn", "item_knn"], "anchor": [None, "z", None, "y", "x"]})
    out = ranker.final_lists(chunk, np.array([2.0, 1.0, 2.0, 3.0, 5.0]), rules, dt.date(2026, 11, 14), n=10,
                             pool=2, reasons=REASONS)
    lists = {user: rows for user, rows in out.groupby("user_id")}
    assert lists["u1"]["item_id"].tolist() == ["c", "b"]             # a is outside u1's pool of 2
    assert lists["u1"]["score"].tolist() == [1.0, 0.0] and lists["u1"]["rank"].tolist() == [1, 2]
    assert lists["u1"]["reason"].tolist() == ["similar_to:x", "similar_to:y"]
    assert lists["u2"]["item_id"].tolist() == ["a", "b"]             # a tie: by item id, both scaled to 1
    assert lists["u2"]["score"].tolist() == [1.0, 1.0]
