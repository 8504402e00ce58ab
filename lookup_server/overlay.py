"""The session overlay and the filters applied to every answer (pure functions).

- scores are scaled so that the list's best is 1 (popularity counts and ALS scores alike);
- items in the cart, out of stock, or unknown to the catalog are removed;
- an item near a recently viewed one gains serve.overlay_boost x its similarity;
- neighbours of the recently viewed items that the list lacks are blended in with that
  boost as their score and reason "similar_to:<viewed item>".
"""

from __future__ import annotations

from export.codec import Entry


def near(recent_lists: list[tuple[str, list[Entry] | None]]) -> dict[str, tuple[float, str]]:
    """item -> (best similarity scaled to its list's top, the viewed item it is near)."""
    out: dict[str, tuple[float, str]] = {}
    for viewed, entries in recent_lists:
        if not entries:
            continue
        top = max(e.score for e in entries) or 1.0
        for e in entries:
            value = e.score / top
            if value > out.get(e.item_id, (0.0, ""))[0]:
                out[e.item_id] = (value, viewed)
    return out


def apply(entries: list[Entry], meta: dict[str, dict], k: int, exclude: set[str] = frozenset(),
          nearby: dict[str, tuple[float, str]] | None = None, boost: float = 0.0,
          max_price: float | None = None, category: str | None = None) -> list[Entry]:
    """The k best entries after the overlay and the filters."""
    nearby = nearby or {}
    top = max((e.score for e in entries), default=1.0)
    scale = 1.0 / top if top > 0 else 1.0        # the list's best scores 1, whatever its source's scale
    in_order = all(a.score >= b.score for a, b in zip(entries, entries[1:]))
    if not nearby and in_order:                  # a list stored best first: filter in order, stop at k
        kept, seen = [], set()
        for e in entries:
            if e.item_id not in seen and allowed(e.item_id, meta, exclude, max_price, category):
                seen.add(e.item_id)
                kept.append(Entry(e.item_id, e.score * scale, e.reason))
                if len(kept) == k:
                    break
        return kept
    scored: dict[str, Entry] = {}
    for e in entries:
        bonus = boost * nearby[e.item_id][0] if e.item_id in nearby else 0.0
        scored.setdefault(e.item_id, Entry(e.item_id, e.score * scale + bonus, e.reason))
    for item, (value, viewed) in nearby.items():
        if item not in scored:
            scored[item] = Entry(item, boost * value, f"similar_to:{viewed}")
    kept = [e for e in scored.values() if allowed(e.item_id, meta, exclude, max_price, category)]
    kept.sort(key=lambda e: (-e.score, e.item_id))
    return kept[:k]


def allowed(item: str, meta: dict[str, dict], exclude, max_price, category) -> bool:
    fields = meta.get(item)
    if fields is None or item in exclude or fields.get("in_stock") is False:
        return False
    if max_price is not None and (fields.get("price") is None or fields["price"] > max_price):
        return False
    if category and not str(fields.get("category") or "").lower().startswith(category.lower()):
        return False
    return True
