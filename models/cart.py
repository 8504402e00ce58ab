"""Cart completion: what to add to a cart, from bought-together pairs with fallbacks (pure Python).

The lookup server calls complete() per request, and `recs eval`'s cart protocol
(spark_jobs/offline/cart_eval.py) calls the same function per test order, so what is measured
offline is what is served. Tiers, tried in the configured order (cart.order) until the list is
full, each a list of (item_id, score, reason):

- bought_together: a candidate j is scored by the chance that at least one cart item leads to
  it, 1 - prod_i (1 - confidence(i -> j)): an item bought with several cart items outranks one
  bought with a single item (spark_jobs/fbt_pairs.py);
- category_popular: popularity within the cart's categories, each category weighted by its
  share of the cart (sparse purchase data: most carts hold items with no pairs at all);
- similar: the cart items' similar items with co-occurrence evidence (spark_jobs/item_similarity.py,
  blended with content), summed;
- content: the cart items' content-only neighbours (cold items: title, category, brand, price);
- popular: the shop's popular list.
Within a tier scores are scaled so that the tier's best is 1; the tier at position t of T adds
T - 1 - t, so scores fall across the whole list and a later tier never outranks an earlier one.
Cart items themselves are never suggested.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

TIERS = ("bought_together", "similar", "category_popular", "content", "popular")
Suggestion = tuple[str, float, str]          # item_id, score, reason


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


def category_scope(category: str | None, depth: int) -> str | None:
    """The category's first `depth` levels as the popularity job keys them ("Home > Kitchen"); None: none."""
    parts = [p.strip() for p in str(category or "").split(">")][:depth]
    scope = " > ".join(parts)
    return scope or None


def weighted_sum(lists: Iterable[tuple[float, Sequence[tuple[str, float]], str]]) -> list[Suggestion]:
    """Merge (weight, [(item, score), ...], reason) lists: each scaled to its best, summed with its weight.

    An item's reason is that of the list that gave it the most; best first, ties by item id.
    """
    total: dict[str, float] = {}
    best: dict[str, tuple[float, str]] = {}
    for weight, entries, reason in lists:
        top = max((score for _, score in entries), default=0.0)
        if top <= 0:
            continue
        for item, score in entries:
            part = weight * max(score, 0.0) / top
            total[item] = total.get(item, 0.0) + part
            if part > best.get(item, (-1.0, ""))[0]:
                best[item] = (part, reason)
    return [(item, value, best[item][1]) for item, value in sorted(total.items(), key=lambda p: (-p[1], p[0]))]


def category_popular(cart_scopes: Sequence[str | None], lists: Mapping[str, Sequence[tuple[str, float]]]
                     ) -> list[Suggestion]:
    """Popular items of the cart's categories, each category weighted by its share of the cart's items."""
    known = [scope for scope in cart_scopes if scope]
    counts = {scope: known.count(scope) for scope in dict.fromkeys(known)}
    return weighted_sum((n / len(known), lists.get(scope) or (), f"popular_in:{scope}")
                        for scope, n in counts.items())


def similar_to(cart: Sequence[str], lists: Mapping[str, Sequence[tuple[str, float]]]) -> list[Suggestion]:
    """The cart items' similar items, each cart item's list scaled to its best and summed."""
    return weighted_sum((1.0, lists.get(item) or (), f"similar_to:{item}") for item in dict.fromkeys(cart))


def complete(cart: Sequence[str], tiers: Mapping[str, Callable[[], list[Suggestion]]], order: Sequence[str],
             n: int) -> tuple[list[Suggestion], str | None]:
    """The n best suggestions for the cart from the tiers in `order`, and the first tier that gave any.

    `tiers`: tier name -> a function returning its suggestions (called only when the list still
    has room, so a full list never reads the later tiers).
    """
    in_cart = set(cart)
    out: list[Suggestion] = []
    seen: set[str] = set()
    first = None
    for position, name in enumerate(order):
        if len(out) >= n:
            break
        found = [s for s in tiers[name]() if s[0] not in in_cart and s[0] not in seen]
        top = max((score for _, score, _ in found), default=0.0)
        offset = len(order) - 1 - position
        for item, score, reason in found[: n - len(out)]:
            seen.add(item)
            out.append((item, offset + (score / top if top > 0 else 0.0), reason))
        if found and first is None:
            first = name
    return out, first
