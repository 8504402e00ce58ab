"""The OpenAPI 3 document of the lookup API, served at /openapi.json."""

from __future__ import annotations

ID = {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:@-]*$"}
K = {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}
IDS = {"type": "string", "description": "comma-separated item ids (at most 50)"}
TOKEN = {"type": "string", "maxLength": 512, "description": "a session token from POST /v1/sessions"}


def _path(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": ID, "description": description}


def _query(name: str, schema: dict, description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


ANSWER = {"description": "a list", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}}}
ERROR = {"description": "malformed input",
         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
FORBIDDEN = {"description": "a session token the server did not issue, or another user's",
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
OVERLAY = [_query("viewed", IDS, "items viewed in this session, newest first"),
           _query("cart", IDS, "items in the cart (never suggested)"),
           _query("session", TOKEN, "a session token (POST /v1/sessions) whose posted events join the overlay; "
                  "one bound to a user is only accepted on that user's pages (else 403)")]


def document(version: str = "1") -> dict:
    """The whole OpenAPI document."""
    def get(summary, parameters):
        responses = {"200": ANSWER, "400": ERROR}
        if any(p["name"] == "session" for p in parameters):
            responses["403"] = FORBIDDEN
        return {"get": {"summary": summary, "parameters": parameters, "responses": responses}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "shop-recs lookup API", "version": version,
                 "description": "Answers from the live RocksDB snapshot, adjusted to the visitor's session. Every "
                                "answer says its source, snapshot and experiment variant; unknown ids get a "
                                "labelled fallback, never an error."},
        "paths": {
            "/v1/users/{user_id}/recommendations": get("Home page list", [
                _path("user_id", "the visitor"), K, *OVERLAY,
                _query("segment", {"type": "string"}, "unknown users: the popular list of this segment, "
                       "e.g. country:GB, device:mobile or a top-level category")]),
            "/v1/items/{item_id}/similar": get("Similar items (product page)", [
                _path("item_id", "the product"), K, _query("max_price", {"type": "number", "minimum": 0}, "price cap"),
                _query("category", {"type": "string"}, "category path prefix")]),
            "/v1/items/{item_id}/bought-together": get("Frequently bought together", [_path("item_id", "the product"),
                                                                                       K]),
            "/v1/cart/bought-together": get(
                "Completes the cart: bought together with its items, then (cart.order) its categories' "
                "popular items, their similar items, popular items", [
                _query("items", IDS, "the cart", required=True), K]),
            "/v1/users/{user_id}/because-you-viewed": get("Neighbours of recently viewed items", [
                _path("user_id", "the visitor"), K, OVERLAY[2]]),
            "/v1/sessions": {"post": {
                "summary": "Open a session: a signed token, anonymous or bound to a user",
                "requestBody": {"required": False, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"user_id": ID}}}}},
                "responses": {"201": {"description": '{"session": token, "user_id": ..., "ttl_seconds": ...}'},
                              "400": ERROR}}},
            "/v1/sessions/{session_id}/events": {"post": {
                "summary": "Session events for the overlay (only for a token this server issued)",
                "parameters": [{"name": "session_id", "in": "path", "required": True, "schema": TOKEN}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["events"], "properties": {"events": {
                        "type": "array", "minItems": 1, "maxItems": 50, "items": {
                            "type": "object", "required": ["type", "item_id"], "properties": {
                                "type": {"type": "string", "enum": ["view", "add_to_cart", "remove_from_cart",
                                                                    "purchase"]},
                                "item_id": ID}}}}}}}},
                "responses": {"202": {"description": "accepted"}, "400": ERROR, "403": FORBIDDEN,
                              "503": {"description": "the session store is unavailable"}}}},
            "/v1/feedback": {"post": {
                "summary": "An outcome of a shown item: a click, add-to-cart or purchase, with the request_id of the "
                           "answer that showed it. Logged per worker (feedback-<pid>.jsonl, shipped nightly to "
                           "{logs_raw}/feedback/dt=) and counted in recs_feedback_total{experiment,variant,type}; the "
                           "nightly experiment_report attributes it to the answer's variant",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "additionalProperties": False,
                    "required": ["request_id", "user_id", "item_id", "type"], "properties": {
                        "request_id": ID, "user_id": ID, "item_id": ID,
                        "type": {"type": "string", "enum": ["click", "add_to_cart", "purchase"]},
                        "quantity": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1},
                        "value": {"type": "number", "minimum": 0, "maximum": 1e9,
                                  "description": "a purchase's revenue (price x quantity)"}}}}}},
                "responses": {"202": {"description": '{"accepted": true, "request_id": ..., "experiment": ..., '
                                                     '"variant": ...}'}, "400": ERROR}}},
            "/v1/snapshot": {"get": {"summary": "The live snapshot", "responses": {"200": {"description": "manifest "
                                                                                            "summary"}}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "alive"}}}},
            "/readyz": {"get": {"summary": "Readiness: a valid snapshot is open",
                                "responses": {"200": {"description": "ready"}, "503": {"description": "not yet"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics of all workers",
                                 "responses": {"200": {"description": "text exposition"}}}},
        },
        "components": {"schemas": {
            "Item": {"type": "object", "properties": {
                "item_id": {"type": "string"}, "score": {"type": "number"},
                "reason": {"type": "string", "example": "similar_to:85123A"}, "title": {"type": "string"},
                "price": {"type": "number", "nullable": True}, "category": {"type": "string", "nullable": True}}},
            "Answer": {"type": "object", "required": ["items", "source", "snapshot", "variant", "request_id"],
                       "properties": {
                           "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                           "source": {"type": "string", "enum": [
                               "personalized", "similar", "bought_together", "because_you_viewed", "popular",
                               "trending", "content_cold_start", "category_popular", "content", "empty"]},
                           "snapshot": {"type": "string"}, "variant": {"type": "string"},
                           "request_id": {"type": "string"},
                           "session": {"type": "string", "enum": ["ok", "unavailable"],
                                       "description": "with a session token: unavailable = served without "
                                                      "session context (the store did not answer)"}}},
            "Error": {"type": "object", "properties": {"error": {"type": "string"}, "field": {"type": "string"},
                                                      "message": {"type": "string"}}},
        }},
    }
