"""Bought-together for a whole cart, from the per-item lists of spark_jobs/fbt_pairs.py.

Pure Python (the lookup server calls it per request). A candidate j is scored by the
chance that at least one cart item leads to it:  1 - prod_i (1 - confidence(i -> j)),
so an item bought with several cart items outranks one bought with a single item. Cart
items themselves are never suggested.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def bought_together(cart: Iterable[str], partners: Mapping[str, Sequence[tuple[str, float]]],
                    k: int) -> list[tuple[str, float, list[str]]]:
    """The k best (item_id, score, because_of) for the cart.

    Args:
        cart: item ids in the cart (duplicates and unknown items are fine).
        partners: item id -> [(other_id, confidence), ...] as stored per item.
        k: how many to return.

    Returns:
        (item_id, score, cart items that led to it), best first; ties by item id.
    """
    in_cart = list(dict.fromkeys(cart))
    miss: dict[str, float] = {}
    reasons: dict[str, list[str]] = {}
    for item in in_cart:
        for other, confidence in partners.get(item, ()):
            if other in in_cart:
                continue
            miss[other] = miss.get(other, 1.0) * (1.0 - min(max(confidence, 0.0), 1.0))
            reasons.setdefault(other, []).append(item)
    ranked = sorted(((1.0 - m, other) for other, m in miss.items()), key=lambda pair: (-pair[0], pair[1]))
    return [(other, score, reasons[other]) for score, other in ranked[:k]]
