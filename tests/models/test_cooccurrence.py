"""Item-pair sums with sparse products: equal to X'X of the groups x items matrix, whatever the chunking."""

from __future__ import annotations

import numpy as np
import pytest

from models import cooccurrence

pytestmark = pytest.mark.spark


def random_groups(seed: int, groups: int = 40, items: int = 15):
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(groups):
        for i in rng.choice(items, size=rng.integers(1, 9), replace=False):
            rows.append((f"g{g}", f"item{i:02d}", float(rng.integers(1, 6))))
    return rows


def dense(rows):
    groups = sorted({r[0] for r in rows})
    items = sorted({r[1] for r in rows})
    x = np.zeros((len(groups), len(items)))
    for g, i, v in rows:
        x[groups.index(g), items.index(i)] = v
    return items, x


def test_chunks_stay_within_the_budget_and_cover_every_row():
    lengths = np.array([3, 1, 2, 5, 1, 1])
    got = list(cooccurrence.chunks(lengths, 10))
    assert got == [(0, 2), (2, 3), (3, 4), (4, 6)]         # 9+1; 4 (+25 > 10); 25 alone (over, a chunk of its own); 1+1
    assert all(sum(n * n for n in lengths[a:b]) <= 10 or b - a == 1 for a, b in got)


@pytest.mark.parametrize("chunk_products", [1, 30, 10_000])
def test_weighted_sums_equal_the_gram_matrix(spark, chunk_products):
    rows = random_groups(7)
    frame = spark.createDataFrame(rows, "user_id string, item_id string, weight double")
    index = cooccurrence.item_index(frame)
    got = cooccurrence.pair_sums(frame, "user_id", index, chunk_products, value="weight", diagonal=True).toPandas()
    items, x = dense(rows)
    expected = x.T @ x
    names = dict(index.toPandas()[["_i", "item_id"]].to_numpy())
    assert [names[i] for i in range(len(items))] == items        # numbered in item_id order
    assert (got["_i"] <= got["_j"]).all()
    assert len(got) == int(np.count_nonzero(np.triu(expected)))
    for i, j, value in got.itertuples(index=False):
        assert value == pytest.approx(expected[i, j])


def test_counts_are_the_groups_holding_both_items_in_both_orders(spark):
    rows = [(g, i) for g, i, _ in random_groups(11)]
    frame = spark.createDataFrame(rows, "order_id string, item_id string")
    pairs, index = cooccurrence.indexed_pair_counts(frame, "order_id", 5)
    got = {(r.item_id, r.other_id): r.support for r in cooccurrence.with_ids(pairs, index, "other_id").collect()}
    items, x = dense([(g, i, 1.0) for g, i in rows])
    expected = {(items[a], items[b]): int(v) for (a, b), v in np.ndenumerate(x.T @ x) if a != b and v > 0}
    assert got == expected


def test_numbered_counts_keep_the_pairs_at_the_minimum_support_and_map_back_to_their_ids(spark):
    """indexed_pair_counts' min_support drops pairs by number before the ids are joined back (with_ids)."""
    rows = [(g, i) for g, i, _ in random_groups(13)]
    frame = spark.createDataFrame(rows, "context string, item_id string")
    pairs, index = cooccurrence.indexed_pair_counts(frame, "context", 30, min_support=2)
    got = {(r.item_id, r.other_id): r.support for r in cooccurrence.with_ids(pairs, index, "other_id").collect()}
    items, x = dense([(g, i, 1.0) for g, i in rows])
    expected = {(items[a], items[b]): int(v) for (a, b), v in np.ndenumerate(x.T @ x) if a != b and v >= 2}
    assert got == expected
    assert 0 < len(expected) < int(np.count_nonzero(x.T @ x - np.diag(np.diag(x.T @ x))))   # the floor dropped some
