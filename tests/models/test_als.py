"""ALS on a checkerboard: users like the items of their own parity; each engine must find the held-out one."""

from __future__ import annotations

import pytest

from models.als import AlsError, AlsParams, train
from models.ann import retrieve

pytestmark = pytest.mark.spark
USERS, ITEMS = 12, 12


def checkerboard(spark):
    """User u had every item of its parity but one (item (u + 2*(u//2)) % ITEMS, same parity), weight 1."""
    held_out = {f"u{u}": f"i{(u + 2 * (u // 2)) % ITEMS}" for u in range(USERS)}
    rows = [(f"u{u}", f"i{i}", 1.0) for u in range(USERS) for i in range(ITEMS)
            if i % 2 == u % 2 and f"i{i}" != held_out[f"u{u}"]]
    return spark.createDataFrame(rows, "user_id string, item_id string, weight double"), held_out


@pytest.mark.parametrize("engine", ["implicit", "spark"])
def test_each_engine_recommends_the_held_out_item_of_the_users_block(spark, make_config, engine):
    config = make_config(als__factors=2, als__regularization=0.1, als__iterations=15, als__alpha=10.0)
    interactions, held_out = checkerboard(spark)
    factors = train(spark, interactions, config.als, config.seed, engine=engine)
    assert factors.users.count() == USERS and factors.items.count() == ITEMS
    assert len(factors.items.first().factors) == 2
    top = retrieve(spark, factors.users, factors.items, 3, config.ann, interactions.select("user_id", "item_id"))
    got = {r.user_id: r.item_id for r in top.filter("rank = 1").collect()}
    assert got == held_out
    # beyond the held-out item, only the other block is left: its scores must be lower
    second = {r.user_id: r for r in top.filter("rank = 2").collect()}
    first = {r.user_id: r for r in top.filter("rank = 1").collect()}
    assert all(first[u].score > second[u].score for u in first)


def test_parameters_can_be_given_per_fit(spark, make_config):
    config = make_config()
    interactions, _ = checkerboard(spark)
    factors = train(spark, interactions, config.als, config.seed, params=AlsParams(3, 0.1, 1.0, 2))
    assert len(factors.users.first().factors) == 3 and factors.params.factors == 3


def test_implicit_engine_refuses_more_than_its_stated_limit(spark, make_config):
    config = make_config(als__max_interactions=5)
    interactions, _ = checkerboard(spark)
    with pytest.raises(AlsError, match="als.engine=spark"):
        train(spark, interactions, config.als, config.seed)
