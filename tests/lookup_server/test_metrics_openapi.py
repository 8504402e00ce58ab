"""/metrics sums every gunicorn worker; /openapi.json documents every route."""

from __future__ import annotations

import json
import re
import urllib.request

from tests.lookup_server.conftest import get, isolated


def scrape(base: str) -> str:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
        assert resp.status == 200
        return resp.read().decode()


def total(text: str, name: str, **labels) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    found = 0.0
    for line in text.splitlines():
        match = re.match(rf'^{name}(\{{(.*)\}})? ([0-9.e+-]+)$', line)
        if match and all(f'{k}="{v}"' in (match.group(2) or "") for k, v in labels.items()):
            found += float(match.group(3))
    return found


def test_metrics_sum_all_workers(server):
    base = server["base"]
    before = scrape(base)
    for _ in range(30):
        assert get(base, "/v1/users/u1/recommendations?k=3")[0] == 200
    for _ in range(5):
        assert get(base, "/v1/users/stranger/recommendations?k=3")[1]["source"] == "popular"
    assert get(base, "/v1/users/u1/recommendations?k=0")[0] == 400
    after = scrape(base)
    def grew(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)
    assert grew("recs_requests_total", endpoint="api.home", source="personalized", status="200") == 30
    assert grew("recs_requests_total", endpoint="api.home", status="400") == 1
    assert grew("recs_fallbacks_total", endpoint="api.home", source="popular") == 5
    assert grew("recs_request_seconds_count", endpoint="api.home") == 36
    assert total(after, "recs_snapshot_age_seconds") > 0
    assert "recs_snapshot_info{" in after


def test_openapi_documents_every_route(server):
    status, doc = get(server["base"], "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    from conf import load_config
    from lookup_server.app import create_app

    app = create_app(isolated(load_config(env="local", environ={})))
    routes = {re.sub(r"<(\w+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()
              if not rule.rule.startswith("/static") and rule.rule != "/openapi.json"}
    assert routes == set(doc["paths"]), routes ^ set(doc["paths"])
    assert json.dumps(doc)                     # serialisable as it is served
