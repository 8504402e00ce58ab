"""Business rules over one user's ranked candidates: filters, boosts, diversity caps, reason codes.

Pure Python over plain records, so it runs inside a Spark mapInPandas over user
partitions and in tests alike. Order of the rules:
1. drop items out of stock, and items the user bought unless their category starts with
   one of rerank.rebuyable_categories;
2. add boosts to the score: promoted, new (created within new_days of the run date),
   margin tier (rerank.margin_boosts);
3. sort by boosted score (then item id) and fill the list greedily so that no window of
   rerank.window consecutive items holds more than max_per_category of one category or
   max_per_brand of one brand; an item that would break a cap waits for a later slot, and
   the list ends early when nothing left fits (caps always hold; lists are stored longer
   than a page, so this rarely shortens what a page shows);
4. every item keeps or gets a reason code.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, replace

from conf.schema import RerankConfig

# the item attributes each candidate carries into the rules (besides its score and reason)
RERANK_COLUMNS = ("category", "brand", "in_stock", "promoted", "created_at", "margin_tier", "purchased")


@dataclass(frozen=True)
class Candidate:
    item_id: str
    score: float
    reason: str
    category: str = ""
    brand: str = ""
    in_stock: bool = True
    promoted: bool = False
    created_at: dt.datetime | None = None
    margin_tier: str | None = None
    purchased: bool = False


def rebuyable(category: str, prefixes: list[str]) -> bool:
    return any(category.lower().startswith(p.lower()) for p in prefixes)


def boosted(c: Candidate, rules: RerankConfig, run_date: dt.date) -> Candidate:
    bonus = rules.promoted_boost if c.promoted else 0.0
    if c.created_at is not None and (run_date - c.created_at.date()).days <= rules.new_days:
        bonus += rules.new_boost
    bonus += rules.margin_boosts.get(c.margin_tier or "", 0.0)
    return replace(c, score=c.score + bonus) if bonus else c


def fits(window: deque, c: Candidate, rules: RerankConfig) -> bool:
    same_category = sum(1 for w in window if c.category and w.category == c.category)
    same_brand = sum(1 for w in window if c.brand and w.brand == c.brand)
    return same_category < rules.max_per_category and same_brand < rules.max_per_brand


def rerank(candidates: list[Candidate], rules: RerankConfig, run_date: dt.date, n: int) -> list[Candidate]:
    """The final list of at most n candidates (see the module doc)."""
    kept = [c for c in candidates
            if not (rules.drop_out_of_stock and not c.in_stock)
            and not (rules.drop_purchased and c.purchased and not rebuyable(c.category, rules.rebuyable_categories))]
    unique = {}
    for c in kept:
        if c.item_id not in unique or c.score > unique[c.item_id].score:
            unique[c.item_id] = c
    pending = sorted((boosted(c, rules, run_date) for c in unique.values()), key=lambda c: (-c.score, c.item_id))
    out: list[Candidate] = []
    window: deque = deque(maxlen=max(rules.window - 1, 1))
    while pending and len(out) < n:
        i = next((i for i, c in enumerate(pending) if fits(window, c, rules)), None)
        if i is None:
            break
        chosen = pending.pop(i)
        out.append(chosen if chosen.reason else replace(chosen, reason="recommended"))
        window.append(chosen)
    return out
