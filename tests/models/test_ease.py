"""EASE: the closed form, scoring and the single-node size limit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import ease

pytestmark = pytest.mark.spark
ROWS = [("u1", "a", 1.0), ("u1", "b", 1.0), ("u2", "a", 1.0), ("u2", "b", 1.0), ("u3", "b", 1.0), ("u3", "c", 1.0),
        ("u4", "a", 1.0)]


def test_weights_solve_the_constrained_least_squares(spark, make_config):
    interactions = spark.createDataFrame(ROWS, "user_id string, item_id string, weight double")
    ids, b = ease.fit(interactions, make_config(ease__regularization=0.5).ease, 100)
    assert list(ids) == ["a", "b", "c"]
    x = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1], [1, 0, 0]], dtype=np.float64)
    g = x.T @ x + 0.5 * np.eye(3)
    p = np.linalg.inv(g)
    expected = np.eye(3) - p / np.diag(p)
    np.testing.assert_allclose(b, expected, atol=1e-5)
    assert np.all(np.diag(b) == 0)


def test_recommend_scores_users_and_excludes_their_items(spark, make_config):
    interactions = spark.createDataFrame(ROWS, "user_id string, item_id string, weight double")
    model = ease.fit(interactions, make_config(ease__regularization=0.5).ease, 100)
    lists = ease.recommend(spark, interactions, model, 2, exclude_seen=True)
    got = {u: list(g.sort_values("rank").item_id) for u, g in lists.toPandas().groupby("user_id")}
    assert got["u4"][0] == "b"                     # a's users mostly also had b
    assert "a" not in got["u4"] and set(got["u1"]) <= {"c"}
    every = ease.recommend(spark, interactions, model, 3, exclude_seen=False).toPandas()
    scores = every[every.user_id == "u4"].set_index("item_id")["score"]
    np.testing.assert_allclose(scores.to_numpy(), model[1][0][scores.index.map({"a": 0, "b": 1, "c": 2})], atol=1e-6)


def test_catalog_over_the_limit_is_skipped(spark, make_config, caplog):
    interactions = spark.createDataFrame(ROWS, "user_id string, item_id string, weight double")
    assert ease.fit(interactions, make_config(ease__max_items=2).ease, 100) is None
    assert "EASE skipped" in caplog.text


def test_weights_are_zero_without_co_occurrence():
    gram = pd.DataFrame({"_i": [1, 0], "_j": [1, 0], "value": [4.0, 1.0]})
    b = ease.weights(2, gram, 1.0)
    assert b.shape == (2, 2) and np.all(b == 0)      # no co-occurrence: no weight
