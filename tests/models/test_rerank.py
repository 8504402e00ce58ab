"""Re-ranking rules: out-of-stock never appears, purchased items only where re-buyable, caps hold in every
window, boosts move items the configured way, every item has a reason code."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from conf.schema import RerankConfig
from models.rerank import Candidate, rerank

RUN = dt.date(2026, 11, 30)


def pool(n=200, seed=3):
    rng = random.Random(seed)
    return [Candidate(item_id=f"i{k:03d}", score=rng.random(), reason=rng.choice(["als", "", "also_bought"]),
                      category=f"c{rng.randrange(6)}", brand=f"b{rng.randrange(8)}", in_stock=rng.random() > 0.1,
                      promoted=rng.random() < 0.1, purchased=rng.random() < 0.1,
                      created_at=dt.datetime(2026, 11, rng.randrange(1, 30)), margin_tier=rng.choice([None, "high"]))
            for k in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_out_of_stock_never_appears_and_caps_hold_in_every_window(seed):
    rules = RerankConfig(max_per_category=3, max_per_brand=2, window=10)
    out = rerank(pool(seed=seed), rules, RUN, 60)
    assert out and all(c.in_stock for c in out)
    assert len({c.item_id for c in out}) == len(out)
    for start in range(len(out)):
        window = out[start:start + rules.window]
        for key in ("category", "brand"):
            values = [getattr(c, key) for c in window]
            cap = rules.max_per_category if key == "category" else rules.max_per_brand
            assert max(values.count(v) for v in values) <= cap, (start, key)
    assert all(c.reason for c in out)


def test_purchased_items_come_back_only_in_rebuyable_categories():
    items = [Candidate("a", 0.9, "als", category="Food > Coffee", purchased=True),
             Candidate("b", 0.8, "als", category="Electronics > Phones", purchased=True),
             Candidate("c", 0.1, "als", category="Electronics > Cases")]
    rules = RerankConfig(rebuyable_categories=["food"])
    assert [c.item_id for c in rerank(items, rules, RUN, 10)] == ["a", "c"]
    assert [c.item_id for c in rerank(items, RerankConfig(drop_purchased=False), RUN, 10)] == ["a", "b", "c"]


def test_boosts_move_items_the_configured_way():
    items = [Candidate("plain", 0.50, "als", category="x"), Candidate("promo", 0.45, "als", category="y",
                                                                      promoted=True),
             Candidate("new", 0.44, "als", category="z", created_at=dt.datetime(2026, 11, 25)),
             Candidate("old", 0.44, "als", category="w", created_at=dt.datetime(2026, 1, 1))]
    order = [c.item_id for c in rerank(items, RerankConfig(promoted_boost=0.1, new_boost=0.05, new_days=14), RUN, 4)]
    assert order == ["promo", "plain", "new", "old"]
    off = [c.item_id for c in rerank(items, RerankConfig(promoted_boost=0.0, new_boost=0.0), RUN, 4)]
    assert off == ["plain", "promo", "new", "old"]
    margin = rerank([Candidate("m", 0.4, "als", margin_tier="high"), Candidate("p", 0.42, "als")],
                    RerankConfig(margin_boosts={"high": 0.05}), RUN, 2)
    assert [c.item_id for c in margin] == ["m", "p"] and margin[0].score == pytest.approx(0.45)


def test_a_list_ends_rather_than_break_a_cap():
    same = [Candidate(f"i{k}", 1 - k / 10, "als", category="only", brand=f"b{k}") for k in range(10)]
    out = rerank(same, RerankConfig(max_per_category=3, window=10), RUN, 10)
    assert [c.item_id for c in out] == ["i0", "i1", "i2"]
