"""faiss retrieval: HNSW agrees with exact search; lists exclude what the user had."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import ann

RNG = np.random.default_rng(7)


def test_hnsw_above_the_exact_limit_recalls_the_exact_neighbours(make_config):
    settings = make_config(ann__exact_max_items=100, ann__large_index="hnsw").ann
    items = RNG.normal(size=(3000, 16)).astype(np.float32)
    queries = RNG.normal(size=(200, 16)).astype(np.float32)
    approx = ann.build_index(items, settings)
    exact = ann.build_index(items, make_config().ann)
    assert "HNSW" in type(approx).__name__ and "Flat" in type(exact).__name__
    _, found = ann.search(approx, queries, 10)
    _, truth = ann.search(exact, queries, 10)
    recall = np.mean([len(set(a) & set(t)) / 10 for a, t in zip(found, truth)])
    assert recall >= 0.95
    np.testing.assert_array_equal(truth[:, 0], np.argmax(queries @ items.T, axis=1))


def test_ivf_above_the_exact_limit_recalls_the_exact_neighbours(make_config):
    settings = make_config(ann__exact_max_items=100, ann__ivf_lists=16, ann__ivf_probe=8).ann
    items = RNG.normal(size=(3000, 16)).astype(np.float32) * RNG.gamma(1.0, 1.0, size=(3000, 1)).astype(np.float32)
    queries = RNG.normal(size=(200, 16)).astype(np.float32)
    index = ann.build_index(items, settings)
    assert "IVF" in type(index).__name__ and index.nprobe == 8
    _, found = ann.search(index, queries, 10)
    _, truth = ann.search(ann.build_index(items, make_config().ann), queries, 10)
    assert np.mean([len(set(a) & set(t)) / 10 for a, t in zip(found, truth)]) >= 0.8
    index.nprobe = 16                                         # every cell: exact
    _, found = ann.search(index, queries, 10)
    np.testing.assert_array_equal(np.sort(found, axis=1), np.sort(truth, axis=1))


def test_top_rows_skips_seen_items_and_numbers_ranks():
    items = np.eye(4, dtype=np.float32)
    index = ann.build_index(items, ann.AnnConfig())
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    batch = pd.DataFrame({"user_id": ["u1", "u2"],
                          "factors": [np.array([4, 3, 2, 1], np.float32), np.array([1, 2, 3, 4], np.float32)],
                          "seen": [["a", "zzz"], None]})
    rows = ann.top_rows(index, ids, {x: i for i, x in enumerate(ids)}, batch, 2)
    got = {u: list(g.sort_values("rank").item_id) for u, g in rows.groupby("user_id")}
    assert got == {"u1": ["b", "c"], "u2": ["d", "c"]}
    assert list(rows["rank"]) == [1, 2, 1, 2]


@pytest.mark.spark
def test_retrieve_runs_over_user_partitions(spark):
    users = spark.createDataFrame([(f"u{i}", [float(i % 3 == j) for j in range(3)]) for i in range(30)],
                                  "user_id string, factors array<float>").repartition(3)
    items = spark.createDataFrame([("x", [1.0, 0.0, 0.0]), ("y", [0.0, 1.0, 0.0]), ("z", [0.0, 0.0, 1.0])],
                                  "item_id string, factors array<float>")
    seen = spark.createDataFrame([("u0", "x")], "user_id string, item_id string")
    lists = ann.retrieve(spark, users, items, 1, ann.AnnConfig(), seen)
    got = {r.user_id: r.item_id for r in lists.collect()}
    assert len(got) == 30 and got["u1"] == "y" and got["u2"] == "z" and got["u3"] == "x"
    assert got["u0"] != "x"
