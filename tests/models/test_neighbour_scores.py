"""Neighbour lists scored on the executors give the lists of the Spark join (models.topn.from_neighbours)."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from models import neighbour_scores
from models.topn import from_neighbours

pytestmark = pytest.mark.spark


def shop(seed: int = 3):
    """History weights and similarities on a 1/8 grid (sums exact in any order, so ties are real ties)."""
    rng = random.Random(seed)
    items = [f"i{n:02d}" for n in range(30)]
    neighbours = [(i, j, rng.randint(1, 8) / 8) for i in items for j in rng.sample(items, 6) if j != i]
    history = {(f"u{u}", i): float(rng.randint(1, 4)) for u in range(40) for i in rng.sample(items, rng.randint(1, 8))}
    seen = [*history, *[(f"u{u}", rng.choice(items)) for u in range(0, 40, 3)], ("u99", "i01")]
    return neighbours, history, seen


def contributions(neighbours, history) -> dict:
    """(user, item) -> {anchor: weight x similarity}."""
    out: dict = {}
    for (user, item), weight in history.items():
        for i, j, sim in neighbours:
            if i == item:
                out.setdefault((user, j), {})[item] = weight * sim
    return out


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_executor_lists_match_the_spark_join(spark, exclude_seen):
    neighbours, history, seen = shop()
    table = spark.createDataFrame(neighbours, "item_id string, neighbour_id string, score float")
    weights = spark.createDataFrame([(u, i, w) for (u, i), w in history.items()],
                                    "user_id string, item_id string, weight double")
    seen_rows = spark.createDataFrame(list(set(seen)), "user_id string, item_id string")
    ours = neighbour_scores.from_neighbours(weights, table, 5, exclude_seen, seen_rows, max_products=7).toPandas()
    theirs = from_neighbours(weights, table, 5, exclude_seen, anchor=True, seen=seen_rows).toPandas()
    key = ["user_id", "rank"]
    pd.testing.assert_frame_equal(ours.sort_values(key)[["user_id", "rank", "item_id", "score"]].reset_index(drop=True),
                                  theirs.sort_values(key)[["user_id", "rank", "item_id", "score"]]
                                  .reset_index(drop=True), check_dtype=False)
    assert len(ours) > 100 and ours["rank"].max() == 5
    parts = contributions(neighbours, history)
    for row in ours.itertuples():       # the anchor contributed most (a tie: the smaller id)
        best = max(parts[(row.user_id, row.item_id)].values())
        assert row.anchor == min(a for a, c in parts[(row.user_id, row.item_id)].items() if c == best)
    dropped = set(seen) & set(zip(ours["user_id"], ours["item_id"]))
    assert (dropped == set()) == exclude_seen


def test_slices_of_products_give_the_same_lists():
    neighbours, history, seen = shop(5)
    rows = pd.DataFrame(neighbours, columns=["item_id", "neighbour_id", "score"])
    table = neighbour_scores.Neighbours.from_rows(rows)
    chunk = pd.DataFrame([(u, i, w) for (u, i), w in history.items()], columns=["user_id", "item_id", "weight"])
    whole = neighbour_scores.user_lists(table, chunk, 4, True, max_products=10**9)
    sliced = neighbour_scores.user_lists(table, chunk, 4, True, max_products=3)
    pd.testing.assert_frame_equal(whole, sliced)
    assert whole["user_id"].nunique() == chunk["user_id"].nunique()
