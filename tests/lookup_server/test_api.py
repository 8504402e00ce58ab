"""The lookup API served by gunicorn: every endpoint, fallbacks, overlay, bad input, hot swap."""

from __future__ import annotations

import threading
import time

import pytest

from export import store
from tests.lookup_server.conftest import OUT_OF_STOCK, build_snapshot, get


def ids(answer):
    return [item["item_id"] for item in answer["items"]]


def test_every_endpoint_answers_with_its_source_and_snapshot(server):
    base, live = server["base"], server["first"]
    status, home = get(base, "/v1/users/u1/recommendations?k=5")
    assert status == 200 and home["source"] == "personalized" and len(home["items"]) == 5
    assert home["snapshot"] == live and home["variant"] and home["request_id"]
    assert all(set(i) >= {"item_id", "score", "reason", "title", "price"} for i in home["items"])
    assert [i["score"] for i in home["items"]] == sorted((i["score"] for i in home["items"]), reverse=True)
    assert get(base, "/v1/users/stranger/recommendations")[1]["source"] == "popular"
    assert get(base, "/v1/users/stranger/recommendations?segment=Toys")[1]["items"]
    status, similar = get(base, "/v1/items/i2/similar?k=3")
    assert status == 200 and similar["source"] == "similar" and "i2" not in ids(similar)
    assert get(base, "/v1/items/nope/similar")[1]["source"] == "popular"          # unknown item: a fallback
    assert get(base, "/v1/items/i3/bought-together")[1]["source"] == "bought_together"
    assert get(base, "/v1/items/i20/bought-together")[1]["source"] == "similar"   # no fbt list: similar
    status, cart = get(base, "/v1/cart/bought-together?items=i1,i2&k=4")
    assert status == 200 and cart["source"] == "bought_together" and not {"i1", "i2"} & set(ids(cart))
    assert get(base, "/v1/snapshot")[1]["id"] == live
    assert get(base, "/healthz") == (200, {"status": "ok"})
    assert get(base, "/readyz")[1] == {"ready": True, "snapshot": live, "fallback": False, "session_store": "ok"}


def test_constraints_out_of_stock_and_the_session_overlay(server):
    base = server["base"]
    cheap = get(base, "/v1/items/i2/similar?k=10&max_price=10&category=home")[1]
    assert cheap["items"] and all(i["price"] <= 10 and i["category"].startswith("Home") for i in cheap["items"])
    for path in ("/v1/users/stranger/recommendations?k=30", "/v1/users/u1/recommendations?k=30",
                 "/v1/items/i4/similar?k=30", "/v1/cart/bought-together?items=i0,i1,i2,i3&k=30"):
        assert OUT_OF_STOCK not in ids(get(base, path)[1]), path
    plain = get(base, "/v1/users/u1/recommendations?k=3")[1]
    top = ids(plain)[0]
    assert top not in ids(get(base, f"/v1/users/u1/recommendations?k=3&cart={top}")[1])     # cart removed
    viewed = get(base, "/v1/users/u1/recommendations?k=30&viewed=i20")[1]
    assert any(i["reason"] == "similar_to:i20" for i in viewed["items"])                  # neighbours blended in
    status, opened = get(base, "/v1/sessions", "POST", {"user_id": "u1"})
    assert status == 201 and opened["user_id"] == "u1"
    session = opened["session"]
    status, posted = get(base, f"/v1/sessions/{session}/events", "POST",
                         {"events": [{"type": "view", "item_id": "i20"}, {"type": "add_to_cart", "item_id": "i21"}]})
    assert status == 202 and posted["events_kept"] == 2
    for _ in range(4):        # two workers share the Redis session store: every worker sees the events
        byv = get(base, f"/v1/users/u1/because-you-viewed?session={session}&k=5")[1]
        assert byv["source"] == "because_you_viewed"
        assert all(i["reason"] == "similar_to:i20" for i in byv["items"]) and "i21" not in ids(byv)


@pytest.mark.parametrize("path,field", [
    ("/v1/users/u1/recommendations?k=0", "k"),
    ("/v1/users/u1/recommendations?k=abc", "k"),
    ("/v1/users/u1/recommendations?k=1000", "k"),
    ("/v1/users/" + "u" * 65 + "/recommendations", "user_id"),
    ("/v1/users/u%241/recommendations", "user_id"),
    ("/v1/items/%2E%2E/similar", "item_id"),
    ("/v1/users/u1/recommendations?viewed=a,,b", "viewed"),
    ("/v1/users/u1/recommendations?session=bad%20id", "session"),
    ("/v1/cart/bought-together", "items"),
    ("/v1/cart/bought-together?items=" + ",".join(f"i{n}" for n in range(51)), "items"),
    ("/v1/items/i1/similar?max_price=cheap", "max_price"),
    ("/v1/items/i1/similar?max_price=-1", "max_price"),
])
def test_malformed_requests_get_a_400_naming_the_field(server, path, field):
    status, body = get(server["base"], path)
    assert status == 400 and body["field"] == field and body["message"]


def test_a_path_outside_the_api_is_a_json_404(server):
    status, body = get(server["base"], "/v1/users/..%2F..%2Fetc/recommendations")
    assert status == 404 and body["error"] == "not_found"


@pytest.mark.parametrize("body,field", [(None, "events"), ({"events": []}, "events"),
                                        ({"events": [{"type": "click", "item_id": "i1"}]}, "events[0].type"),
                                        ({"events": [{"type": "view"}]}, "events[0].item_id")])
def test_malformed_session_events_get_a_400(server, body, field):
    session = get(server["base"], "/v1/sessions", "POST")[1]["session"]
    status, answer = get(server["base"], f"/v1/sessions/{session}/events", "POST", body)
    assert status == 400 and answer["field"] == field


def test_hot_swap_under_requests_drops_nothing_and_a_corrupt_snapshot_is_refused(server):
    base, root = server["base"], server["root"]
    failures, seen, stop = [], set(), threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                status, answer = get(base, "/v1/users/u1/recommendations?k=5")
                seen.add(answer.get("snapshot")) if status == 200 else failures.append(status)
            except OSError as err:
                failures.append(repr(err))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    second = build_snapshot(root, "v2", shift=1)
    store.publish(root, second.name, keep=10)
    deadline = time.time() + 20
    while get(base, "/v1/snapshot")[1]["id"] != second.name and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert failures == []
    assert second.name in seen
    streak, deadline = 0, time.time() + 30   # every worker swaps (each validates the new one on its own)
    while streak < 10 and time.time() < deadline:
        streak = streak + 1 if get(base, "/v1/snapshot")[1]["id"] == second.name else 0
    assert streak == 10

    corrupt = build_snapshot(root, "v3", shift=2)
    sst = sorted((corrupt / "db").glob("*.sst"))[0]
    data = bytearray(sst.read_bytes())
    data[len(data) // 2] ^= 0xFF
    sst.write_bytes(bytes(data))
    (root / "CURRENT").write_text(corrupt.name + "\n")        # as if a broken publish had pointed at it
    time.sleep(1.0)
    for _ in range(6):
        status, answer = get(base, "/v1/users/u1/recommendations?k=5")
        assert status == 200 and answer["snapshot"] == second.name
    assert get(base, "/readyz")[0] == 200
