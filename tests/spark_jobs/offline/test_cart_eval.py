"""The cart protocol scores what the server serves: its lists, put in a real snapshot, give the same answers
over the lookup server's API; hits and MRR are counted from them."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from export import store, writer
from export.format import CONTENT_REASON, POPULAR_KEY_SEPARATOR
from spark_jobs.offline import cart_eval
from tests.helpers import catalog_meta, sample_shop
from tests.lookup_server.conftest import isolated

CUTOFF, END = dt.date(2026, 11, 12), dt.date(2026, 11, 14)


@pytest.fixture(scope="module")
def shop(spark, tmp_path_factory):
    return sample_shop(spark, tmp_path_factory.mktemp("cart"), END, {"fbt.min_support": 1})


def snapshot_of(lists: dict, catalog, config) -> None:
    """The snapshot a nightly run would build from these lists (same families, keys and reasons)."""
    def grouped(frame, key, item, reason):
        out: dict = {}
        for r in frame.orderBy(key, "rank").collect():
            out.setdefault(r[key], []).append((r[item], float(r["score"]), reason(r)))
        return out

    popular = lists["popular"].withColumn("key", F.concat_ws(POPULAR_KEY_SEPARATOR, "list", "scope"))
    families = {
        "fbt": grouped(lists["fbt"], "item_id", "neighbour_id", lambda r: "also_bought"),
        "similar": grouped(lists["similar"], "item_id", "neighbour_id",
                           lambda r: CONTENT_REASON if r["source"] == "content" else "also_viewed"),
        "popular": grouped(popular, "key", "item_id", lambda r: r["list"]),
    }
    meta = catalog_meta(catalog)
    families["user_recs"] = {"nobody": [(next(iter(meta)), 1.0, "als")]}
    root = writer.write(config.paths.snapshots, CUTOFF - dt.timedelta(days=1), "cart", families, meta,
                        {"run": {"digest": "cart"}}, config.snapshot.list_length)
    store.publish(root.parent, root.name, keep=2)


def test_the_protocol_answers_each_order_as_the_lookup_server_does(spark, shop):
    from lookup_server.app import create_app

    config, events, catalog = shop
    lists = cart_eval.lists_as_of(spark, events, catalog, config, CUTOFF)
    orders = [list(config.cart.order), ["popular"]]
    answered = cart_eval.answers(events, catalog, lists, config, CUTOFF, END, orders).collect()
    served = [r for r in answered if r["candidate"] == 0]
    assert len(served) >= 30 and all(r["hidden"] and r["cart"] for r in served)
    assert all(not set(r["cart"]) & set(r["hidden"]) for r in served)
    snapshot_of(lists, catalog, config)
    client = create_app(isolated(config)).test_client()
    sources = set()
    for row in served:
        reply = client.get(f"/v1/cart/bought-together?items={','.join(row['cart'])}&k={config.cart.k}").get_json()
        assert [item["item_id"] for item in reply["items"]] == list(row["served"]), row["order_id"]
        sources.add(reply["source"])
    assert "bought_together" in sources and len(sources) >= 2          # pairs, and a fallback tier, both met
    popular_only = [r["served"] for r in answered if r["candidate"] == 1]
    assert len({tuple(s[:3]) for s in popular_only}) <= 3                 # one list, less each cart's items


def test_scores_count_a_hit_when_a_hidden_item_is_served(spark, shop):
    config, events, catalog = shop
    orders = [list(config.cart.order), ["popular"]]
    figures = cart_eval.scores(spark, events, catalog, config, CUTOFF, END, orders)
    lists = cart_eval.lists_as_of(spark, events, catalog, config, CUTOFF)
    rows = cart_eval.answers(events, catalog, lists, config, CUTOFF, END, orders).collect()
    for candidate, result in enumerate(figures["results"]):
        mine = [r for r in rows if r["candidate"] == candidate]
        ranks = [next((p for p, item in enumerate(r["served"], 1) if item in r["hidden"]), None) for r in mine]
        assert result["hr"] == pytest.approx(sum(r is not None for r in ranks) / len(mine), abs=1e-4)
        assert result["mrr"] == pytest.approx(sum(1 / r for r in ranks if r) / len(mine), abs=1e-4)
    assert figures["orders"] == len(rows) // 2
    assert figures["results"][0]["hr"] > figures["results"][1]["hr"]    # pairs beat the plain popular list
