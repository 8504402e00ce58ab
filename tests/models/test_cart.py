"""Bought-together for a whole cart (pure Python, used by the lookup server)."""

from __future__ import annotations

import pytest

from models.cart import bought_together, category_popular, category_scope, complete, similar_to

PARTNERS = {
    "a": [("x", 0.5), ("y", 0.4), ("b", 0.9)],
    "b": [("x", 0.5), ("z", 0.3)],
}


def test_items_that_several_cart_items_lead_to_rank_first():
    got = bought_together(["a", "b"], PARTNERS, 10)
    assert [item for item, _, _ in got] == ["x", "y", "z"]
    assert got[0][1] == pytest.approx(1 - 0.5 * 0.5)          # noisy-or of two 0.5 confidences
    assert got[0][2] == ["a", "b"]


def test_cart_items_are_never_suggested_and_unknown_items_are_ignored():
    got = bought_together(["a", "b", "nope", "a"], PARTNERS, 10)
    assert "b" not in [item for item, _, _ in got] and len(got) == 3


def test_k_and_empty_cart():
    assert len(bought_together(["a"], PARTNERS, 1)) == 1
    assert bought_together([], PARTNERS, 5) == []


# ---- complete(): tiers in order until the list is full ----

def tiers_of(**lists):
    """Tier functions over fixed lists, recording which were called."""
    called = []

    def tier(name):
        def read():
            called.append(name)
            return lists[name]
        return read
    return {name: tier(name) for name in lists}, called


def test_tiers_fill_the_list_in_order_and_scores_fall_across_tiers():
    tiers, called = tiers_of(bought_together=[("x", 0.9, "b"), ("y", 0.3, "b")],
                             category_popular=[("y", 50.0, "c"), ("z", 40.0, "c"), ("w", 10.0, "c")],
                             popular=[("p", 1000.0, "recent")])
    got, first = complete(["a"], tiers, ["bought_together", "category_popular", "popular"], 4)
    assert [item for item, _, _ in got] == ["x", "y", "z", "w"]      # y once, from the earlier tier
    assert [reason for _, _, reason in got] == ["b", "b", "c", "c"]
    scores = [score for _, score, _ in got]
    assert scores == sorted(scores, reverse=True) and scores[1] > scores[2]
    assert first == "bought_together" and called == ["bought_together", "category_popular"]   # popular never read


def test_an_empty_first_tier_names_the_tier_that_answered_and_cart_items_are_skipped():
    tiers, _ = tiers_of(bought_together=[], category_popular=[("a", 9.0, "c"), ("z", 4.0, "c")],
                        popular=[("p", 1.0, "recent")])
    got, first = complete(["a"], tiers, ["bought_together", "category_popular", "popular"], 5)
    assert [item for item, _, _ in got] == ["z", "p"] and first == "category_popular"


def test_category_popular_weights_each_category_by_its_share_of_the_cart():
    lists = {"Home": [("mug", 10.0), ("pan", 5.0)], "Toys": [("kite", 100.0), ("ball", 90.0)]}
    got = category_popular(["Home", "Home", "Toys", None], lists)
    values = {item: score for item, score, _ in got}
    assert values["mug"] == pytest.approx(2 / 3) and values["kite"] == pytest.approx(1 / 3)
    assert values["pan"] == pytest.approx(1 / 3) and values["ball"] == pytest.approx(0.3)
    assert [item for item, _, _ in got][0] == "mug" and got[0][2] == "popular_in:Home"
    assert category_popular([None], lists) == []


def test_similar_to_sums_each_cart_item_neighbours_scaled_to_its_best():
    got = similar_to(["a", "b"], {"a": [("x", 2.0), ("y", 1.0)], "b": [("y", 4.0)]})
    assert [(item, score) for item, score, _ in got] == [("y", 1.5), ("x", 1.0)]
    assert got[0][2] == "similar_to:b"


@pytest.mark.parametrize("category, depth, scope", [("Home > Kitchen > Mugs", 1, "Home"),
                                                     ("Home>Kitchen", 2, "Home > Kitchen"), (None, 1, None),
                                                     ("", 1, None)])
def test_category_scope_matches_the_popularity_jobs_keys(category, depth, scope):
    assert category_scope(category, depth) == scope
