"""Simulated visitors for `recs ab-demo`: they open the home page through a real lookup server, click shown
items and buy some, and post each outcome to /v1/feedback with the answer's request_id.

A visitor's taste is the set of categories they browsed in the committed synthetic sample. A shown item
is clicked with `click_rate`, or `taste_click_rate` when its category is in that taste; a clicked item is
bought with `buy_rate`. Nothing here knows which variant wins: lists that match the visitor's taste get
more clicks and purchases, whichever variant served them. Seeded: the same settings give the same visits.
"""

from __future__ import annotations

import gzip
import json
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd


def tastes(raw: Path) -> dict[str, set[str]]:
    """Per sample user, the categories of the items they viewed, carted or bought (the raw JSON-lines events of a
    generated sample, whose deliberately broken lines are skipped, and its catalog: daily changes, latest wins)."""
    category: dict[str, str] = {}
    for path in sorted((raw / "catalog").glob("dt=*/*.csv.gz")):
        category.update(pd.read_csv(path, usecols=["item_id", "category"], dtype=str).itertuples(index=False))
    found: dict[str, set[str]] = {}
    for path in sorted((raw / "events").glob("dt=*/*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                try:
                    event = json.loads(line)
                    user, item = str(event["user_id"]), str(event["item_id"])
                except (ValueError, KeyError, TypeError):
                    continue
                if item in category:
                    found.setdefault(user, set()).add(category[item])
    return found


def call(base: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def visit(base: str, user: str, taste: set[str], rng: np.random.Generator, settings) -> Counter:
    """One home-page visit and what the visitor did with it."""
    answer = call(base, f"/v1/users/{user}/recommendations?k={settings.k}")
    done = Counter(visits=1, shown=len(answer["items"]))
    for item in answer["items"]:
        rate = settings.taste_click_rate if item["category"] in taste else settings.click_rate
        if rng.random() >= rate:
            continue
        outcome = {"request_id": answer["request_id"], "user_id": user, "item_id": item["item_id"]}
        call(base, "/v1/feedback", {**outcome, "type": "click"})
        done["clicks"] += 1
        if rng.random() < settings.buy_rate:
            call(base, "/v1/feedback", {**outcome, "type": "purchase", "quantity": 1,
                                        "value": float(item["price"] or 0.0)})
            done["purchases"] += 1
    done[f"variant:{answer['variant']}"] += 1
    return done


def day(base: str, users: list[str], taste_of: dict[str, set[str]], rng: np.random.Generator, settings) -> Counter:
    """One simulated day: `visitors_per_day` users drawn from the sample (seeded), one visit each."""
    done = Counter()
    for user in rng.choice(users, size=settings.visitors_per_day, replace=False):
        done += visit(base, str(user), taste_of.get(str(user), set()), rng, settings)
    return done
