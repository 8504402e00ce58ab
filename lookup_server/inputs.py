"""Input validation: ids, k and id lists, each failure a BadRequest that names the field."""

from __future__ import annotations

import re

ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@\-]*", re.ASCII)      # whole string: fullmatch
K = re.compile(r"[0-9]{1,4}", re.ASCII)                        # ASCII digits only ("٣" is not 3)
NUMBER = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?", re.ASCII)
EVENT_TYPES = ("view", "add_to_cart", "remove_from_cart", "purchase")
FEEDBACK_TYPES = ("click", "add_to_cart", "purchase")
FEEDBACK_FIELDS = ("request_id", "user_id", "item_id", "type", "quantity", "value")


class BadRequest(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def an_id(value, field: str, max_length: int) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest(field, "required, a non-empty string")
    if len(value) > max_length:
        raise BadRequest(field, f"at most {max_length} characters")
    if not ID.fullmatch(value):
        raise BadRequest(field, "letters, digits and _ . : @ - only, starting with a letter or digit")
    return value


def a_k(args, default: int, maximum: int) -> int:
    raw = args.get("k")
    if raw is None or raw == "":
        return default
    if not K.fullmatch(raw) or not 1 <= int(raw) <= maximum:
        raise BadRequest("k", f"an integer from 1 to {maximum}")
    return int(raw)


def an_id_list(args, field: str, max_items: int, max_length: int, required: bool = False) -> list[str]:
    raw = args.get(field, "")
    if not raw:
        if required:
            raise BadRequest(field, "required: comma-separated item ids")
        return []
    parts = raw.split(",")
    if len(parts) > max_items:
        raise BadRequest(field, f"at most {max_items} ids")
    return list(dict.fromkeys(an_id(p.strip(), field, max_length) for p in parts))


def a_number(args, field: str) -> float | None:
    raw = args.get(field)
    if raw is None or raw == "":
        return None
    if not NUMBER.fullmatch(raw):
        raise BadRequest(field, "a non-negative number in plain digits, e.g. 19.99")
    return float(raw)


def events(body, max_items: int, max_length: int) -> list[dict]:
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise BadRequest("events", 'a JSON body {"events": [{"type": "view", "item_id": "..."}]} is required')
    items = body["events"]
    if not 1 <= len(items) <= max_items:
        raise BadRequest("events", f"1 to {max_items} events")
    out = []
    for n, event in enumerate(items):
        if not isinstance(event, dict):
            raise BadRequest(f"events[{n}]", "an object")
        kind = event.get("type")
        if kind not in EVENT_TYPES:
            raise BadRequest(f"events[{n}].type", f"one of {', '.join(EVENT_TYPES)}")
        out.append({"type": kind, "item_id": an_id(event.get("item_id"), f"events[{n}].item_id", max_length)})
    return out


def feedback(body, max_length: int) -> dict:
    """One outcome of a shown item: {"request_id", "user_id", "item_id", "type", optional "quantity", "value"}."""
    if not isinstance(body, dict):
        raise BadRequest("body", 'a JSON object {"request_id": "...", "user_id": "...", "item_id": "...", '
                                 '"type": "click"} is required')
    unknown = sorted(set(body) - set(FEEDBACK_FIELDS))
    if unknown:
        raise BadRequest(unknown[0], f"unknown field; allowed: {', '.join(FEEDBACK_FIELDS)}")
    out = {"request_id": an_id(body.get("request_id"), "request_id", max_length),
           "user_id": an_id(body.get("user_id"), "user_id", max_length),
           "item_id": an_id(body.get("item_id"), "item_id", max_length)}
    if body.get("type") not in FEEDBACK_TYPES:
        raise BadRequest("type", f"one of {', '.join(FEEDBACK_TYPES)}")
    out["type"] = body["type"]
    quantity = body.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 10_000:
        raise BadRequest("quantity", "an integer from 1 to 10000")
    out["quantity"] = quantity
    value = body.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                              or not 0 <= value <= 1e9 or value != value):
        raise BadRequest("value", "a number from 0 to 1e9: the revenue of a purchase (price x quantity)")
    out["value"] = None if value is None else float(value)
    return out
