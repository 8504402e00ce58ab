"""The synthetic shop: deterministic, canonical, and shaped like a shop (funnels, pairs, cold start)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pandas as pd
import pytest

from data_samples.generator import generate
from data_samples.shop import PAIRED_LEAVES

START = dt.date(2026, 11, 1)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    out = tmp_path_factory.mktemp("shop")
    stats = generate(out, users=1500, items=400, days=6, start=START, seed=3, events_format="parquet")
    events = pd.read_parquet(out / "events")
    catalog = pd.concat([pd.read_csv(p).assign(dt=p.parent.name[3:]) for p in sorted(out.glob("catalog/*/*"))])
    return out, stats, events, catalog


def digest_tree(folder):
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder, seed in ((a, 1), (b, 1), (c, 2)):
        generate(folder, users=200, items=60, days=2, start=START, seed=seed)
    assert digest_tree(a) == digest_tree(b)
    assert digest_tree(a) != digest_tree(c)


def test_one_partition_per_day_in_canonical_columns(shop):
    out, stats, events, _ = shop
    days = sorted(p.name for p in (out / "events").iterdir())
    assert days == [f"dt={START + dt.timedelta(days=n)}" for n in range(6)]
    assert {"event_id", "event_time", "user_id", "session_id", "event_type", "item_id", "order_id", "quantity",
            "price", "device"} <= set(events.columns)
    assert len(events) == stats.events and events["event_id"].is_unique
    assert set(events["event_type"]) == {"view", "add_to_cart", "remove_from_cart", "purchase"}
    # every event lies in its own day's partition
    assert (events["event_time"].dt.strftime("%Y-%m-%d") == events["dt"].astype(str)).all()


def test_funnel_views_outnumber_carts_outnumber_purchases_and_orders_group_items(shop):
    _, stats, events, _ = shop
    by = stats.by_type
    assert by["view"] > 3 * by["add_to_cart"] > 0 and by["add_to_cart"] > by["purchase"] > 0
    purchases = events[events.event_type == "purchase"]
    assert purchases["order_id"].notna().all()
    assert events.loc[events.event_type != "purchase", "order_id"].isna().all()
    assert purchases.groupby("order_id")["item_id"].size().max() > 1  # multi-item orders
    carted = set(zip(events.loc[events.event_type == "add_to_cart", "session_id"],
                     events.loc[events.event_type == "add_to_cart", "item_id"]))
    assert all(pair in carted for pair in zip(purchases["session_id"], purchases["item_id"]))


def test_popularity_is_long_tailed(shop):
    _, _, events, _ = shop
    views = events[events.event_type == "view"]["item_id"].value_counts()
    top_share = views.iloc[: len(views) // 10].sum() / views.sum()
    assert top_share > 0.3  # the top 10% of items take far more than 10% of views


def test_paired_leaves_are_bought_together_far_more_than_chance(shop):
    _, _, events, catalog = shop
    leaf = catalog.drop_duplicates("item_id", keep="last").set_index("item_id")["category"].str.split(" > ").str[-1]
    orders = events[events.event_type == "purchase"].assign(leaf=lambda d: d.item_id.map(leaf))
    baskets = orders.groupby("order_id")["leaf"].agg(set)
    anchor, other = PAIRED_LEAVES[0]
    with_anchor = baskets[baskets.map(lambda s: anchor in s)]
    p_other_given_anchor = with_anchor.map(lambda s: other in s).mean()
    p_other = baskets.map(lambda s: other in s).mean()
    assert len(with_anchor) > 5 and p_other_given_anchor > 3 * p_other


def test_new_items_and_users_appear_late_and_never_before_they_exist(shop):
    _, _, events, catalog = shop
    first_partition = catalog[catalog.dt == str(START)]
    new_items = catalog[(catalog.dt != str(START)) & ~catalog.item_id.isin(first_partition.item_id)]
    assert len(new_items) > 0
    created = new_items.set_index("item_id")["created_at"].map(pd.Timestamp)
    seen = events[events.item_id.isin(created.index)].groupby("item_id")["event_time"].min()
    assert (seen.index.map(created).to_numpy() <= seen.to_numpy()).all()
    first_day_users = set(events.loc[events.dt.astype(str) == str(START), "user_id"])
    last_day_users = set(events.loc[events.dt.astype(str) == str(START + dt.timedelta(days=5)), "user_id"])
    assert last_day_users - first_day_users


def test_users_have_concentrated_tastes(shop):
    _, _, events, catalog = shop
    top = catalog.drop_duplicates("item_id", keep="last").set_index("item_id")["category"].str.split(" > ").str[0]
    per_user = events.assign(top=events.item_id.map(top)).groupby("user_id")["top"]
    heavy = per_user.size()[lambda s: s >= 20].index
    share = per_user.agg(lambda s: s.value_counts(normalize=True).iloc[0])[heavy]
    assert share.median() > 0.4  # 7 top categories: uniform taste would give ~0.14


def test_catalog_has_every_canonical_field_with_sensible_values(shop):
    _, _, _, catalog = shop
    assert {"item_id", "title", "category", "brand", "price", "in_stock", "created_at", "promoted",
            "margin_tier"} <= set(catalog.columns)
    assert (catalog["price"] > 0).all()
    assert catalog["category"].str.count(" > ").eq(2).all()
    assert catalog["in_stock"].mean() > 0.8 and catalog["promoted"].any()
    assert set(catalog["margin_tier"]) == {"low", "medium", "high"}


def test_bad_share_damages_rows_in_several_kinds(tmp_path):
    generate(tmp_path, users=300, items=60, days=1, start=START, seed=5, events_format="jsonl", compress=False,
             bad_share=0.05)
    lines = next((tmp_path / "events").glob("*/*.jsonl")).read_text().splitlines()
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            parsed.append(None)
    assert parsed.count(None) >= 1
    assert any(p and p["event_type"] == "click" for p in parsed)
    assert len({p["event_id"] for p in parsed if p}) < len([p for p in parsed if p])  # a duplicate
