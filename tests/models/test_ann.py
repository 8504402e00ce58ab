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


def test_norm_pruned_search_is_exact_and_scans_everything_only_where_the_bound_fails(make_config):
    settings = make_config(ann__exact_max_items=100, ann__large_index="pruned", ann__prune_share=0.05).ann
    # skewed norms like ALS item factors (median 0.04, max 38): a few long vectors, most short
    directions = RNG.normal(size=(4000, 16))
    lengths = np.where(RNG.random(4000) < 0.03, RNG.uniform(5, 40, 4000), RNG.uniform(0.01, 0.5, 4000))
    items = (directions / np.linalg.norm(directions, axis=1, keepdims=True) * lengths[:, None]).astype(np.float32)
    queries = RNG.normal(size=(300, 16)).astype(np.float32)
    index = ann.deserialize(ann.serialize(ann.build_index(items, settings)))     # as the executors get it
    assert isinstance(index, ann.NormPruned) and len(index.positions) == 200
    scores, found = ann.search(index, queries, 20)
    truth_scores, truth = ann.search(ann.build_index(items, make_config().ann), queries, 20)
    np.testing.assert_array_equal(found, truth)
    np.testing.assert_allclose(scores, truth_scores, rtol=1e-5)
    assert index.searched_all < len(queries) // 2              # most queries answered from the head alone
    # equal norms: the bound never holds, every query is searched over every item, still exact
    flat = items / np.linalg.norm(items, axis=1, keepdims=True)
    index = ann.build_index(flat, settings)
    _, found = ann.search(index, queries, 20)
    np.testing.assert_array_equal(found, ann.search(ann.build_index(flat, make_config().ann), queries, 20)[1])
    assert index.searched_all == len(queries)


def test_a_flat_index_survives_the_broadcast_bytes(make_config):
    items = RNG.normal(size=(50, 8)).astype(np.float32)
    index = ann.deserialize(ann.serialize(ann.build_index(items, make_config().ann)))
    assert index.ntotal == 50 and ann.search(index, items[:1], 1)[1][0, 0] == np.argmax(items @ items[0])


def test_ivf_above_the_exact_limit_recalls_the_exact_neighbours(make_config):
    settings = make_config(ann__exact_max_items=100, ann__large_index="ivf", ann__ivf_lists=16,
                           ann__ivf_probe=8).ann
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
