"""Seeded synthetic shop events: sessions with view -> add_to_cart -> purchase funnels.

Each day is generated for a chunk of users at a time with numpy and written straight to
its `dt=` partition, so memory stays flat whatever the number of events.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from data_samples.shop import Catalog, Users, catalog_rows, make_catalog, make_users
from data_samples.writers import write_table

log = logging.getLogger(__name__)
SECONDS_PER_DAY = 86400
# Hour-of-day weights (UTC): quiet nights, a lunch bump and an evening peak.
HOUR_WEIGHTS = np.array([1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 7, 8, 7, 6, 6, 6, 7, 9, 11, 12, 10, 6, 3], float)


@dataclass
class FunnelSettings:
    """Probabilities of the shopping funnel."""

    leaf_focus: float = 0.65       # a view stays in the session's leaf category
    brand_loyalty: float = 0.3     # otherwise, a view picks the user's favourite brand
    cart_base: float = 0.06        # add_to_cart probability of a view, plus appeal * cart_appeal
    cart_appeal: float = 0.3
    remove: float = 0.08           # a carted item is removed again
    checkout: float = 0.45         # a session with a cart ends in an order
    complement: float = 0.35       # a purchased item pulls in one of its complements
    mean_views: float = 3.5        # views per session (1 + geometric)
    chunk_users: int = 200_000


@dataclass
class GenerationStats:
    """What a generation wrote."""

    events: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    files: int = 0
    seconds: float = 0.0


def generate(out: Path, users: int, items: int, days: int, start: dt.date, seed: int,
             events_format: str = "jsonl", compress: bool = True, bad_share: float = 0.0,
             funnel: FunnelSettings | None = None, sessions_per_day: float = 0.3) -> GenerationStats:
    """Write a synthetic shop to `out`: `events/dt=.../` and `catalog/dt=.../` partitions.

    Args:
        out: folder to write (created; existing partitions of the same dates are replaced).
        users, items, days: size of the shop and of the history.
        start: the first day.
        seed: all randomness derives from it; the same arguments give the same files.
        events_format: "jsonl", "csv" or "parquet".
        compress: gzip text formats.
        bad_share: share of event rows to damage on purpose (text formats only), one
            of each kind in turn, to exercise the ingest quarantine.
        funnel: funnel probabilities.
        sessions_per_day: a user's mean sessions per day (low: long, sparse histories).

    Returns:
        GenerationStats with the number of events by type.
    """
    funnel = funnel or FunnelSettings()
    rng = np.random.default_rng(seed)
    catalog = make_catalog(rng, items, days)
    people = make_users(rng, users, len(catalog.tops), len(catalog.brands[0]), days,
                        sessions_per_day=sessions_per_day)
    stats = GenerationStats()
    began = time.perf_counter()
    for day in range(days):
        date = start + dt.timedelta(days=day)
        _write_catalog_increment(out, catalog, day, date, start, seed, compress)
        pools = _pools(catalog, day)
        for chunk, first in enumerate(range(0, users, funnel.chunk_users)):
            day_rng = np.random.default_rng([seed, day, chunk])
            members = np.arange(first, min(first + funnel.chunk_users, users))
            table = _day_events(day_rng, catalog, people, members, pools, day, date, chunk, funnel)
            if table.num_rows == 0:
                continue
            path = out / "events" / f"dt={date.isoformat()}" / f"part-{chunk:05d}"
            write_table(table, path, events_format, compress, bad_share, np.random.default_rng([seed, day, chunk, 1]))
            stats.files += 1
            stats.events += table.num_rows
            types, counts = np.unique(table.column("event_type").to_numpy(zero_copy_only=False), return_counts=True)
            for t, c in zip(types, counts):
                stats.by_type[t] = stats.by_type.get(t, 0) + int(c)
        elapsed = time.perf_counter() - began
        log.info("day %s done: %d events so far, %.0f events/s, about %.0f s left", date, stats.events,
                 stats.events / max(elapsed, 1e-9), elapsed / (day + 1) * (days - day - 1))
    stats.seconds = time.perf_counter() - began
    return stats


def _write_catalog_increment(out: Path, catalog: Catalog, day: int, date: dt.date, start: dt.date,
                             seed: int, compress: bool) -> None:
    """Day 0: every item that exists; later days: new items and items whose stock changed."""
    if day == 0:
        items = np.flatnonzero(catalog.created_day <= 0)
    else:
        flips = np.random.default_rng([seed, day, 7]).random(len(catalog.ids)) < 0.01
        catalog.in_stock[flips & (catalog.created_day < day)] ^= True
        items = np.flatnonzero((catalog.created_day == day) | (flips & (catalog.created_day < day)))
    if len(items) == 0:
        return
    table = pa.table(catalog_rows(catalog, items, start))
    write_table(table, out / "catalog" / f"dt={date.isoformat()}" / "part-00000", "csv", compress)


@dataclass
class Pool:
    """Items to sample from, with their cumulative popularity."""

    items: np.ndarray
    cumulative: np.ndarray

    def sample(self, u: np.ndarray) -> np.ndarray:
        return self.items[np.searchsorted(self.cumulative, u * self.cumulative[-1], side="right").clip(
            0, len(self.items) - 1)]


def _pools(catalog: Catalog, day: int) -> dict[tuple, Pool]:
    """Sampling pools of the items on sale that day: per leaf, per top, per (top, brand), and all."""
    live = catalog.created_day <= day
    everything = np.flatnonzero(live)
    pools = {("all",): Pool(everything, np.cumsum(catalog.popularity[everything]))}
    keys = ([("leaf", i) for i in range(len(catalog.leaves))] + [("top", t) for t in range(len(catalog.tops))]
            + [("brand", t, b) for t in range(len(catalog.tops)) for b in range(len(catalog.brands[t]))])
    for key in keys:
        if key[0] == "leaf":
            mask = live & (catalog.leaf == key[1])
        elif key[0] == "top":
            mask = live & (catalog.top == key[1])
        else:
            mask = live & (catalog.top == key[1]) & (catalog.brand == key[2])
        members = np.flatnonzero(mask)
        if len(members):
            pools[key] = Pool(members, np.cumsum(catalog.popularity[members]))
    return pools


def _pick(rng, keys: np.ndarray, pools: dict, fallback: np.ndarray, kind: str) -> np.ndarray:
    """For each row, an item from pools[(kind, *key)], else its top category's pool, else any item."""
    picked = np.empty(len(keys), dtype=np.int64)
    u = rng.random(len(keys))
    flat = keys if keys.ndim == 1 else keys[:, 0] * 1000 + keys[:, 1]
    for value in np.unique(flat):
        rows = np.flatnonzero(flat == value)
        key = (kind, int(value)) if keys.ndim == 1 else (kind, int(value // 1000), int(value % 1000))
        pool = pools.get(key) or pools.get(("top", int(fallback[rows[0]]))) or pools[("all",)]
        picked[rows] = pool.sample(u[rows])
    return picked


def _day_events(rng, catalog: Catalog, people: Users, members: np.ndarray, pools: dict, day: int,
                date: dt.date, chunk: int, funnel: FunnelSettings) -> pa.Table:
    """All events of one day for one chunk of users, as an Arrow table in canonical columns."""
    active = members[people.signup_day[members] <= day]
    n_sessions = rng.poisson(people.rate[active])
    s_user = np.repeat(active, n_sessions)
    n = len(s_user)
    if n == 0:
        return pa.table({})
    # Each session: a top category from the user's taste, a leaf within it, a start time.
    cum_taste = people.taste[s_user].cumsum(axis=1)
    s_top = (rng.random(n)[:, None] > cum_taste).sum(axis=1).clip(0, len(catalog.tops) - 1)
    s_leaf = catalog.leaf[_pick(rng, s_top, pools, s_top, "top")]
    hours = rng.choice(24, n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    s_start = hours * 3600 + rng.integers(0, 3600, n)

    # Views: mostly in the session's leaf, else the user's favourite brand or the top category.
    n_views = rng.geometric(1.0 / funnel.mean_views, n).clip(1, 25)
    v_sess = np.repeat(np.arange(n), n_views)
    v_rank = np.arange(len(v_sess)) - np.repeat(np.cumsum(n_views) - n_views, n_views)
    v_item = np.empty(len(v_sess), dtype=np.int64)
    r = rng.random(len(v_sess))
    in_leaf = r < funnel.leaf_focus
    by_brand = ~in_leaf & (r < funnel.leaf_focus + (1 - funnel.leaf_focus) * funnel.brand_loyalty)
    rest = ~in_leaf & ~by_brand
    v_top = s_top[v_sess]
    v_item[in_leaf] = _pick(rng, s_leaf[v_sess[in_leaf]], pools, v_top[in_leaf], "leaf")
    brand_keys = np.stack([v_top[by_brand], people.favourite_brand[s_user[v_sess[by_brand]], v_top[by_brand]]], 1)
    v_item[by_brand] = _pick(rng, brand_keys, pools, v_top[by_brand], "brand")
    v_item[rest] = _pick(rng, v_top[rest], pools, v_top[rest], "top")
    v_time = s_start[v_sess] + v_rank * rng.integers(10, 120, len(v_sess)) + rng.integers(0, 10, len(v_sess))

    # Carts, removals, and checkouts that turn the remaining cart into one order.
    carted = (rng.random(len(v_sess)) < funnel.cart_base + funnel.cart_appeal * catalog.appeal[v_item]) \
        & catalog.in_stock[v_item]
    c_idx = np.flatnonzero(carted)
    c_time = v_time[c_idx] + rng.integers(5, 90, len(c_idx))
    removed = rng.random(len(c_idx)) < funnel.remove
    r_idx = c_idx[removed]
    r_time = c_time[removed] + rng.integers(10, 300, removed.sum())
    kept = c_idx[~removed]
    checkout = rng.random(n) < funnel.checkout
    bought = kept[checkout[v_sess[kept]]]
    # Complements: the charger that goes with the phone, added to the same order.
    comp = catalog.complements[v_item[bought], rng.integers(0, catalog.complements.shape[1], len(bought))]
    live = catalog.created_day[comp.clip(0)] <= day  # a complement not yet on sale cannot be bought
    takes = (comp >= 0) & live & (rng.random(len(bought)) < funnel.complement)
    extra_sess, extra_item = v_sess[bought[takes]], comp[takes]
    s_end = np.zeros(n, dtype=np.int64)
    np.maximum.at(s_end, v_sess, v_time)
    np.maximum.at(s_end, v_sess[c_idx], c_time)
    extra_time = s_end[extra_sess] + rng.integers(5, 60, len(extra_sess))
    np.maximum.at(s_end, extra_sess, extra_time)
    buy_sess = np.concatenate([v_sess[bought], extra_sess])
    buy_item = np.concatenate([v_item[bought], extra_item])
    buy_time = s_end[buy_sess] + 60

    # One row per event, canonical columns.
    sess = np.concatenate([v_sess, v_sess[c_idx], v_sess[r_idx], extra_sess, extra_sess, buy_sess])
    item = np.concatenate([v_item, v_item[c_idx], v_item[r_idx], extra_item, extra_item, buy_item])
    secs = np.concatenate([v_time, c_time, r_time, extra_time - 30, extra_time, buy_time])
    kind = np.concatenate([np.zeros(len(v_sess)), np.ones(len(c_idx)), np.full(len(r_idx), 2),
                           np.zeros(len(extra_sess)), np.ones(len(extra_sess)), np.full(len(buy_sess), 3)]).astype(int)
    secs = secs.clip(0, SECONDS_PER_DAY - 1)
    order = np.lexsort((kind, secs, sess))
    sess, item, secs, kind = sess[order], item[order], secs[order], kind[order]
    user = s_user[sess]
    is_buy = kind == 3
    quantity = np.where(is_buy, rng.choice([1, 1, 1, 1, 2, 3], len(kind)), 1)
    midnight = dt.datetime.combine(date, dt.time(), tzinfo=dt.UTC).timestamp()
    prefix = f"{date:%Y%m%d}-{chunk:03d}-"
    session_ids = _ids(f"s{prefix}", sess)
    return pa.table({
        "event_id": _ids(f"e{prefix}", np.arange(len(kind))),
        "event_time": pa.array(((midnight + secs) * 1_000_000).astype("int64"), pa.timestamp("us", tz="UTC")),
        "user_id": pa.array(people.ids[user], pa.string()),
        "session_id": session_ids,
        "event_type": pa.array(np.array(["view", "add_to_cart", "remove_from_cart", "purchase"])[kind]),
        "item_id": pa.array(catalog.ids[item], pa.string()),
        "order_id": pa.array(np.where(is_buy, _ids(f"o{prefix}", sess).to_numpy(zero_copy_only=False), None),
                             pa.string()),
        "quantity": pa.array(quantity, pa.int32()),
        "price": pa.array(catalog.price[item], pa.float64()),
        "device": pa.array(people.device[user], pa.string()),
        "country": pa.array(people.country[user], pa.string()),
    })


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    """prefix + zero-padded number, built in Arrow (fast for millions of rows)."""
    import pyarrow.compute as pc

    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), 7, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")
