"""Top-N helpers: global positions without a single-partition window, and the global lists built on them."""

from __future__ import annotations

import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F

from models.topn import from_global, positions

pytestmark = pytest.mark.spark


def single_partition_steps(frame) -> list[str]:
    """Plan lines that move every row to one partition (what Spark warns about as "No Partition Defined")."""
    plan = frame._jdf.queryExecution().executedPlan().toString()
    return [line for line in plan.splitlines() if "SinglePartition" in line]


def test_positions_match_a_global_row_number_without_one_partition(spark):
    scored = spark.createDataFrame([(f"i{n:03d}", float(n % 7)) for n in range(200)], "item_id string, score double") \
        .repartition(4)
    order = [F.col("score").desc(), F.col("item_id")]
    ours = positions(scored, order, "_g")
    theirs = scored.withColumn("_g", F.row_number().over(Window.orderBy(*order)))
    assert sorted(ours.collect()) == sorted(theirs.collect())
    assert dict(ours.dtypes)["_g"] == "int"
    assert single_partition_steps(ours) == [] and single_partition_steps(theirs)     # the check can fail


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_global_lists_rank_items_for_every_user_without_one_partition(spark, exclude_seen):
    users = spark.createDataFrame([("u1",), ("u2",)], "user_id string")
    items = spark.createDataFrame([("a", 3.0), ("b", 2.0), ("c", 1.0), ("d", 1.0)], "item_id string, score double")
    seen = spark.createDataFrame([("u1", "a")], "user_id string, item_id string")
    lists = from_global(users, items, seen, 2, exclude_seen)
    got = {(r.user_id, r.rank): r.item_id for r in lists.collect()}
    assert got[("u2", 1)] == "a" and got[("u2", 2)] == "b"
    assert (got[("u1", 1)], got[("u1", 2)]) == (("b", "c") if exclude_seen else ("a", "b"))   # c before d: id order
    assert single_partition_steps(lists) == []
