"""`recs eval-served` scores what a real lookup server (gunicorn) answers: lists whose hits are known, put in a
real snapshot, give exactly the expected figures; a snapshot that saw the test window is refused."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from export import store, writer
from export.format import popular_key
from spark_jobs.offline import served_eval
from spark_jobs.offline.split import EvaluationError, temporal_split
from tests.helpers import catalog_meta, sample_shop
from tests.lookup_server.conftest import start_server

CUTOFF, END = dt.date(2026, 11, 12), dt.date(2026, 11, 14)


@pytest.fixture(scope="module")
def shop(spark, tmp_path_factory):
    config, events, catalog = sample_shop(spark, tmp_path_factory.mktemp("served-eval"), END,
                                          {"serve.workers": 1, "serve.poll_seconds": 0.2})
    split = temporal_split(events, catalog, config, CUTOFF, END)
    relevant: dict[str, set] = {}
    for r in split.relevant.collect():              # the committed sample: a few hundred rows
        relevant.setdefault(r["user_id"], set()).add(r["item_id"])
    return config, split, relevant, catalog_meta(catalog)


def publish(config, run_date: dt.date, user_recs: dict, meta: dict, popular: list[str]) -> None:
    families = {"user_recs": user_recs, "similar": {}, "fbt": {},
                "popular": {popular_key("recent", "all"): [(i, float(len(popular) - n), "recent")
                                                          for n, i in enumerate(popular)]}}
    root = writer.write(config.paths.snapshots, run_date, f"served-{run_date}", families, meta,
                        {"run": {"digest": "served"}}, config.snapshot.list_length)
    store.publish(root.parent, root.name, keep=3)


def test_the_figures_are_those_of_the_lists_the_server_answers(spark, shop):
    config, split, relevant, meta = shop
    bought = set().union(*relevant.values())
    unbought = [i for i, m in meta.items() if i not in bought and m["in_stock"]]
    users = sorted(relevant)
    # perfect: every relevant item first (all in stock, at most 10 of them); missed: only unbought items;
    # a third of the users get no list, so the server answers its popular fallback (unbought items too)
    perfect = [u for u in users[0::3] if len(relevant[u]) <= 10 and all(meta[i]["in_stock"] for i in relevant[u])]
    missed = users[1::3]
    user_recs = {u: [(i, 30.0 - n, "als") for n, i in enumerate(sorted(relevant[u]) + unbought[:5])] for u in perfect}
    user_recs.update({u: [(i, 30.0 - n, "als") for n, i in enumerate(unbought[5:25])] for u in missed})
    publish(config, CUTOFF - dt.timedelta(days=1), user_recs, meta, unbought[25:45])
    proc, base = start_server(config)
    try:
        found = served_eval.evaluate(spark, split, base, [10, 20], False, 10.0, 4)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert len(perfect) >= 20 and len(missed) >= 20
    n = len(users)
    for k in (10, 20):
        figures = found["figures"][k]
        assert figures["users"] == n
        assert math.isclose(figures["ndcg"], len(perfect) / n, abs_tol=1e-6)
        assert math.isclose(figures["recall"], len(perfect) / n, abs_tol=1e-6)
        assert math.isclose(figures["hit_rate"], len(perfect) / n, abs_tol=1e-6)
    assert found["answer_sources"] == {"personalized": len(perfect) + len(missed),
                                       "popular": n - len(perfect) - len(missed)}
    assert found["snapshot_run_date"] == (CUTOFF - dt.timedelta(days=1)).isoformat()


def test_a_snapshot_that_saw_the_test_window_is_refused(spark, shop):
    config, split, relevant, meta = shop
    publish(config, CUTOFF, {}, meta, list(meta)[:10])
    proc, base = start_server(config)
    try:
        with pytest.raises(EvaluationError, match="on or after the cutoff"):
            served_eval.evaluate(spark, split, base, [10], True, 10.0, 4)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_no_server_says_so(spark, shop):
    _, split, _, _ = shop
    with pytest.raises(EvaluationError, match="is the lookup server running"):
        served_eval.evaluate(spark, split, "http://127.0.0.1:9", [10], True, 2.0, 4)
