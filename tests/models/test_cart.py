"""Bought-together for a whole cart (pure Python, used by the lookup server)."""

from __future__ import annotations

import pytest

from models.cart import bought_together

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
