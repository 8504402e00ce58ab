"""The /v1 API blueprint: home, product and cart answers, session events, snapshot info."""

from __future__ import annotations

import time
import uuid

from flask import Blueprint, abort, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from export.codec import Entry
from export.format import CONTENT_REASON, popular_key
from lookup_server import experiments, inputs, metrics, overlay
from models import cart as cart_model

api = Blueprint("api", __name__)
POPULAR_KEYS = (popular_key("recent", "all"), popular_key("all_time", "all"), popular_key("trending", "all"))


def settings():
    return current_app.config["RECS"].serve


def live():
    snapshot = current_app.extensions["recs.holder"].refresh()
    if snapshot is None:
        abort(503, description="no valid snapshot is live yet")
    g.snapshot = snapshot
    return snapshot


def answer(entries, meta, source: str, **extra):
    g.source = source
    variant = getattr(g, "variant", experiments.DEFAULT)
    items = []
    for e in entries:
        fields = meta.get(e.item_id) or {}
        items.append({"item_id": e.item_id, "score": round(float(e.score), 6), "reason": e.reason,
                      "title": fields.get("title"), "price": fields.get("price"), "category": fields.get("category")})
    if getattr(g, "session_state", None):
        extra["session"] = g.session_state          # "ok", or "unavailable": served without session context
    if request.method != "HEAD":                    # HEAD shows nothing: no impression
        experiment = settings().experiment
        name = experiment.name if experiment and variant != experiments.DEFAULT else None
        current_app.extensions["recs.impressions"].write({
            "request_id": g.request_id, "endpoint": request.endpoint, "user_id": getattr(g, "user_id", None),
            "experiment": name, "variant": variant, "source": source,
            "snapshot": g.snapshot.name, "items": [i["item_id"] for i in items]})
        metrics.count_impression(request.endpoint, name, variant)
    return jsonify({"items": items, "source": source, "snapshot": g.snapshot.name, "variant": variant,
                    "request_id": g.request_id, **extra})


def presented_session(user_id: str) -> str | None:
    """The store key of the session token in ?session=, checked (403 when forged or another user's); None: none."""
    token = request.args.get("session") or None
    if token is None:
        return None
    return current_app.extensions["recs.tokens"].check(token, user_id)


def session_context(sid: str | None) -> tuple[list[str], list[str]]:
    """(viewed newest first, cart) from the query string and the session store (when a session was presented)."""
    s = settings()
    viewed = inputs.an_id_list(request.args, "viewed", s.max_list_items, s.max_id_length)
    cart = inputs.an_id_list(request.args, "cart", s.max_list_items, s.max_id_length)
    if sid:
        recent = current_app.extensions["recs.sessions"].recent(sid)
        g.session_state = "ok" if recent is not None else "unavailable"
        for event in recent or []:
            if event["type"] == "view":
                viewed.append(event["item_id"])
            elif event["type"] == "add_to_cart":
                cart.append(event["item_id"])
            elif event["type"] in ("remove_from_cart", "purchase") and event["item_id"] in cart:
                cart.remove(event["item_id"])
    return list(dict.fromkeys(viewed)), list(dict.fromkeys(cart))


def fallback(snapshot, segment: str | None = None, limit: int | None = None):
    """The first popular list that exists: the segment's, then overall recent, all-time, trending."""
    keys = ([popular_key("recent", segment), popular_key("trending", segment)] if segment else []) + list(POPULAR_KEYS)
    for key, entries in zip(keys, snapshot.lists("popular", keys, limit)):
        if entries:
            return entries, ("trending" if key.startswith("trending") else "popular")
    return [], "empty"


def finish(snapshot, entries, k, source, exclude=(), nearby=None, **filters):
    s = settings()
    if not filters.get("max_price") and not filters.get("category"):
        entries = entries[: 2 * k + len(exclude)]   # enough to refill a page after cart and stock removals
    ids = [e.item_id for e in entries] + list((nearby or {}).keys())
    meta = snapshot.items(list(dict.fromkeys(ids)))
    chosen = overlay.apply(entries, meta, k, set(exclude), nearby, s.overlay_boost, **filters)
    return answer(chosen, meta, source)


@api.get("/v1/users/<user_id>/recommendations")
def home(user_id):
    s = settings()
    user_id = inputs.an_id(user_id, "user_id", s.max_id_length)
    k = inputs.a_k(request.args, s.default_k, s.max_k)
    session_id = presented_session(user_id)
    segment = request.args.get("segment") or None
    snapshot = live()
    g.user_id = user_id
    g.variant = experiments.assign(s.experiment, user_id)
    home_list = s.experiment.variants[g.variant].home_list if s.experiment else "user_recs"
    viewed, cart = session_context(session_id)
    recent = viewed[: s.overlay_recent_views]
    near_lists = snapshot.lists("similar", recent)
    if home_list == "user_recs":
        lists = snapshot.lists("user_recs", [user_id], limit=2 * k + len(cart))
        entries, source = (lists[0], "personalized") if lists[0] else fallback(snapshot, segment, 2 * k + len(cart))
    else:
        entries = snapshot.lists("popular", [home_list])[0]
        source = "trending" if home_list.startswith("trending") else "popular"
        if not entries:
            entries, source = fallback(snapshot, segment)
    return finish(snapshot, entries, k, source, exclude=cart, nearby=overlay.near(list(zip(recent, near_lists))))


@api.get("/v1/items/<item_id>/similar")
def similar(item_id):
    s = settings()
    item_id = inputs.an_id(item_id, "item_id", s.max_id_length)
    k = inputs.a_k(request.args, s.default_k, s.max_k)
    max_price = inputs.a_number(request.args, "max_price")
    category = request.args.get("category") or None
    if category and len(category) > 200:
        raise inputs.BadRequest("category", "at most 200 characters")
    snapshot = live()
    entries = snapshot.lists("similar", [item_id], None if max_price or category else 2 * k + 1)[0]
    if entries:
        cold = all(e.reason == CONTENT_REASON for e in entries)
        source = "content_cold_start" if cold else "similar"
    else:
        own = snapshot.items([item_id]).get(item_id)
        top = str(own.get("category") or "").split(">")[0].strip() if own else ""
        entries, source = fallback(snapshot, top or None)
        source = "category_popular" if top and source != "empty" else source
    return finish(snapshot, entries, k, source, exclude={item_id}, max_price=max_price, category=category)


@api.get("/v1/items/<item_id>/bought-together")
def item_bought_together(item_id):
    s = settings()
    item_id = inputs.an_id(item_id, "item_id", s.max_id_length)
    k = inputs.a_k(request.args, 10, s.max_k)
    snapshot = live()
    fbt, near_items = snapshot.lists("fbt", [item_id])[0], snapshot.lists("similar", [item_id])[0]
    if fbt:
        entries, source = fbt, "bought_together"
    elif near_items:
        entries, source = near_items, "similar"
    else:
        entries, source = fallback(snapshot)
    return finish(snapshot, entries, k, source, exclude={item_id})


@api.get("/v1/cart/bought-together")
def cart_bought_together():
    s = settings()
    cart = inputs.an_id_list(request.args, "items", s.max_list_items, s.max_id_length, required=True)
    k = inputs.a_k(request.args, 10, s.max_k)
    snapshot = live()
    config = current_app.config["RECS"]
    found, source = cart_completion(snapshot, cart, config.cart, config.popularity.category_depth, 2 * k)
    return finish(snapshot, [Entry(*entry) for entry in found], k, source or "empty", exclude=set(cart))


def cart_completion(snapshot, cart: list[str], cart_settings, depth: int, n: int):
    """models.cart.complete over the snapshot's lists, each tier read only when the list still has room."""
    def fbt():
        partners = {item: [(e.item_id, e.score) for e in entries]
                    for item, entries in zip(cart, snapshot.lists("fbt", cart)) if entries}
        return [(item, score, "bought_with:" + ",".join(because[:3]))
                for item, score, because in cart_model.bought_together(cart, partners, n)]

    def by_category():
        meta = snapshot.items(cart)
        scopes = [cart_model.category_scope((meta.get(item) or {}).get("category"), depth) for item in cart]
        keys = list(dict.fromkeys(s for s in scopes if s))
        lists = snapshot.lists("popular", [popular_key(cart_settings.category_list, key) for key in keys], n)
        return cart_model.category_popular(scopes, {key: [(e.item_id, e.score) for e in entries or ()]
                                                    for key, entries in zip(keys, lists)})

    similar_lists = {}

    def neighbours(content: bool):
        if not similar_lists:
            similar_lists.update(zip(cart, snapshot.lists("similar", cart)))
        return cart_model.similar_to(cart, {item: [(e.item_id, e.score) for e in entries or ()
                                                   if (e.reason == CONTENT_REASON) == content]
                                            for item, entries in similar_lists.items()})

    def popular():
        entries, _ = fallback(snapshot, None, n + len(cart))
        return [(e.item_id, e.score, e.reason) for e in entries]

    tiers = {"bought_together": fbt, "category_popular": by_category, "similar": lambda: neighbours(False),
             "content": lambda: neighbours(True), "popular": popular}
    return cart_model.complete(cart, tiers, cart_settings.order, n)


@api.get("/v1/users/<user_id>/because-you-viewed")
def because_you_viewed(user_id):
    s = settings()
    user_id = inputs.an_id(user_id, "user_id", s.max_id_length)
    k = inputs.a_k(request.args, s.default_k, s.max_k)
    session_id = presented_session(user_id)          # only the session the caller presents, never by user id
    snapshot = live()
    viewed, cart = session_context(session_id)
    recent = viewed[: max(s.overlay_recent_views, 1)]
    nearby = overlay.near(list(zip(recent, snapshot.lists("similar", recent))))
    if nearby:
        return finish(snapshot, [], k, "because_you_viewed", exclude=set(cart) | set(recent), nearby=nearby)
    entries, source = fallback(snapshot)
    return finish(snapshot, entries, k, source, exclude=cart)


@api.post("/v1/sessions")
def open_session():
    """A new session token, anonymous or bound to {"user_id": ...}: the only ids events are accepted for."""
    s = settings()
    body = read_json()
    user_id = None
    if body is not None:
        if not isinstance(body, dict):
            raise inputs.BadRequest("body", 'a JSON object, e.g. {"user_id": "u1"}, or no body')
        if body.get("user_id") is not None:
            user_id = inputs.an_id(body.get("user_id"), "user_id", s.max_id_length)
    token = current_app.extensions["recs.tokens"].issue(user_id)
    return jsonify({"session": token, "user_id": user_id, "ttl_seconds": s.session.ttl_seconds}), 201


@api.post("/v1/sessions/<session_id>/events")
def session_events(session_id):
    s = settings()
    sid = current_app.extensions["recs.tokens"].check(session_id)
    events = inputs.events(read_json(), s.max_list_items, s.max_id_length)
    stamped = [{**e, "at": round(time.time(), 3)} for e in events]
    kept = current_app.extensions["recs.sessions"].add(sid, stamped)
    return jsonify({"session_id": session_id, "accepted": len(events), "events_kept": kept}), 202


@api.post("/v1/feedback")
def feedback():
    """A click, add-to-cart or purchase of an item an answer showed (its request_id): logged and counted."""
    s = settings()
    outcome = inputs.feedback(read_json(), s.max_id_length)
    variant = experiments.assign(s.experiment, outcome["user_id"])
    name = s.experiment.name if s.experiment else None
    current_app.extensions["recs.feedback"].write({**outcome, "experiment": name, "variant": variant})
    metrics.count_feedback(name, variant, outcome["type"])
    return jsonify({"accepted": True, "request_id": outcome["request_id"], "experiment": name,
                    "variant": variant}), 202


def read_json():
    """The request's JSON body (None when empty or not JSON); a body that cannot be read is a 400, not a 500."""
    try:
        return request.get_json(silent=True)
    except HTTPException:   # 413 (body over MAX_CONTENT_LENGTH) and the like keep their status
        raise
    except Exception:       # gunicorn's chunked-encoding errors, a client that hung up mid-body
        raise inputs.BadRequest("body", "could not be read (malformed chunked encoding or an incomplete body)") \
            from None


@api.get("/v1/snapshot")
def snapshot_info():
    holder = current_app.extensions["recs.holder"]
    return jsonify({**live().info(), "current": holder.wanted, "fallback": holder.fallback})


def new_request_id() -> str:
    return request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
