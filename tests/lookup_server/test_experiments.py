"""A/B assignment (stable across processes, shares respected) and a served experiment with impression logs."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from conf import load_config
from conf.schema import ExperimentConfig
from lookup_server.experiments import assign
from tests.lookup_server.conftest import REPO, get, start_server

EXPERIMENT = {"name": "home-trending", "variants": {"control": {"share": 0.7, "home_list": "user_recs"},
                                                    "trending": {"share": 0.3, "home_list": "trending:all"}}}


def test_assignment_is_stable_across_processes_and_follows_the_shares():
    experiment = ExperimentConfig(**EXPERIMENT)
    users = [f"user-{n}" for n in range(10_000)]
    here = [assign(experiment, u) for u in users]
    script = ("import json, sys; from conf.schema import ExperimentConfig; from lookup_server.experiments import "
              "assign; e = ExperimentConfig(**json.loads(sys.argv[1])); "
              "print(json.dumps([assign(e, f'user-{n}') for n in range(10000)]))")
    there = json.loads(subprocess.run([sys.executable, "-c", script, json.dumps(EXPERIMENT)], cwd=REPO,
                                      capture_output=True, text=True, check=True).stdout)
    assert here == there                       # another process (another hash salt): the same variants
    assert abs(here.count("trending") / len(here) - 0.3) < 0.02
    assert assign(None, "anyone") == "default"


def test_shares_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to"):
        ExperimentConfig(name="x", variants={"a": {"share": 0.5}, "b": {"share": 0.4}})


def test_a_served_experiment_labels_answers_and_logs_impressions(server, tmp_path):
    config = experiment_config(server, tmp_path / "impressions", workers=2)
    proc, base = start_server(config)
    try:
        experiment = ExperimentConfig(**EXPERIMENT)
        answers = {}
        for n in range(20):
            status, body = get(base, f"/v1/users/u{n}/recommendations?k=3")
            assert status == 200 and body["variant"] == assign(experiment, f"u{n}")
            assert body["source"] == ("trending" if body["variant"] == "trending" else "personalized")
            answers[body["request_id"]] = body
        assert {b["variant"] for b in answers.values()} == {"control", "trending"}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    by_request = {line["request_id"]: line for line in logged(tmp_path / "impressions", "impressions")}
    assert set(answers) <= set(by_request)
    for request_id, body in answers.items():
        line = by_request[request_id]
        assert line["variant"] == body["variant"] and line["experiment"] == "home-trending"
        assert line["items"] == [i["item_id"] for i in body["items"]] and line["user_id"] and line["time"] > 0


def test_feedback_is_validated_logged_beside_the_impressions_counted_and_closed_on_exit(server, tmp_path):
    config = experiment_config(server, tmp_path / "logs", workers=2)
    proc, base = start_server(config)
    try:
        status, shown = get(base, "/v1/users/u3/recommendations?k=3")
        assert status == 200
        item = shown["items"][0]["item_id"]
        ok = {"request_id": shown["request_id"], "user_id": "u3", "item_id": item, "type": "click"}
        status, body = get(base, "/v1/feedback", "POST", ok)
        assert status == 202 and body["variant"] == shown["variant"] and body["experiment"] == "home-trending"
        status, _ = get(base, "/v1/feedback", "POST", {**ok, "type": "purchase", "quantity": 2, "value": 19.5})
        assert status == 202
        bad = [({**ok, "type": "like"}, "type"), ({**ok, "request_id": ""}, "request_id"),
               ({**ok, "user_id": "u 3"}, "user_id"), ({k: v for k, v in ok.items() if k != "item_id"}, "item_id"),
               ({**ok, "quantity": 0}, "quantity"), ({**ok, "value": -1}, "value"), ({**ok, "value": True}, "value"),
               ({**ok, "colour": "red"}, "colour"), (["not", "an", "object"], "body")]
        for payload, field in bad:
            status, body = get(base, "/v1/feedback", "POST", payload)
            assert status == 400 and body["field"] == field, (payload, body)
        metrics = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
        variant = shown["variant"]
        assert f'recs_feedback_total{{experiment="home-trending",type="click",variant="{variant}"}} 1.0' in metrics
        assert f'recs_feedback_total{{experiment="home-trending",type="purchase",variant="{variant}"}} 1.0' in metrics
        assert "recs_impressions_total{" in metrics
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    closed = tmp_path / "logs" / "closed"
    assert not list((tmp_path / "logs").glob("*.jsonl"))            # workers that exit close their logs
    feedback = [json.loads(line) for path in closed.glob("feedback-*.jsonl") for line in path.read_text().splitlines()]
    # two workers: each line is in the log of the worker that answered, so the files' order is no order
    assert sorted((f["type"], f["quantity"], f["value"]) for f in feedback) == [("click", 1, None),
                                                                                ("purchase", 2, 19.5)]
    assert {f["request_id"] for f in feedback} == {shown["request_id"]} and feedback[0]["variant"] == shown["variant"]
    shown_lines = [json.loads(line) for path in closed.glob("impressions-*.jsonl")
                   for line in path.read_text().splitlines()]
    assert [line["request_id"] for line in shown_lines] == [shown["request_id"]]


def test_a_log_is_closed_at_its_size_limit_on_a_new_day_at_exit_and_after_its_worker_died(tmp_path):
    import os
    import time

    from lookup_server.experiments import JsonLinesLog

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()                     # a pid that has exited
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / f"impressions-{dead}.jsonl").write_text("")                 # empty: removed
    (folder / f"impressions-{int(dead) + 200000}.jsonl").write_text('{"x": 2}\n')   # a killed worker's: closed
    (folder / "shipped").mkdir()
    old = folder / "shipped" / "impressions-h-1-1.jsonl"
    old.write_text('{"x": 1}\n')                                          # shipped 8 days ago: removed
    os.utime(old, (time.time() - 8 * 86400,) * 2)
    young = folder / "shipped" / "impressions-h-2-2.jsonl"
    young.write_text('{"x": 3}\n')
    log = JsonLinesLog(str(folder), "impressions", max_mb=1, keep_days=7)
    log.write({"request_id": "r1"})
    assert [p.read_text() for p in (folder / "closed").iterdir()] == ['{"x": 2}\n']
    assert sorted(p.name for p in (folder / "shipped").iterdir()) == [young.name]
    log.day = -1                                                           # the UTC day changed
    log.write({"request_id": "r2"})
    log.max_bytes = 1                                                      # the size limit
    log.write({"request_id": "r3"})
    log.write({"request_id": "r4"})
    log.close()
    closed = sorted((folder / "closed").iterdir(), key=lambda p: p.name.rsplit("-", 1)[1])
    texts = [p.read_text() for p in closed]
    # the killed worker's | r1 (a new day) | r2 r3 (r3 reached the limit) | r4 (at the limit); the empty last one goes
    assert [t.count('"request_id"') for t in texts] == [0, 1, 2, 1]
    assert all(p.name.startswith("impressions-") and p.suffix == ".jsonl" for p in closed)
    assert not list(folder.glob("*.jsonl"))


def test_simulated_visitors_click_what_matches_their_taste_and_post_it_as_feedback(server, tmp_path):
    import numpy as np

    from conf.schema import AbDemoConfig
    from data_samples import ab_simulation

    config = experiment_config(server, tmp_path / "logs", workers=1)
    settings = AbDemoConfig(k=6, click_rate=0.0, taste_click_rate=1.0, buy_rate=1.0, visitors_per_day=8)
    proc, base = start_server(config)
    try:
        done = ab_simulation.day(base, [f"u{n}" for n in range(10)], {f"u{n}": {"Home > Mugs"} for n in range(10)},
                                 np.random.default_rng(1), settings)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    shown, feedback = (logged(tmp_path / "logs", kind) for kind in ("impressions", "feedback"))
    mugs = {f"i{n}" for n in range(0, 30, 2)}                           # the even items are Home > Mugs
    expected = sum(1 for line in shown for item in line["items"] if item in mugs)
    assert done["visits"] == len(shown) == 8 and done["clicks"] == expected == done["purchases"] > 0
    assert sorted((f["type"], f["item_id"]) for f in feedback) == sorted(
        [(kind, item) for line in shown for item in line["items"] if item in mugs for kind in ("click", "purchase")])
    assert {f["request_id"] for f in feedback} <= {line["request_id"] for line in shown}


def logged(folder, kind: str) -> list[dict]:
    return [json.loads(line) for path in folder.rglob(f"{kind}-*.jsonl") for line in path.read_text().splitlines()]


def experiment_config(server, logs, workers: int):
    """The test snapshot served with EXPERIMENT running, its logs in `logs`."""
    return load_config(env="local", environ={}, overrides={
        "paths.snapshots": str(server["root"]), "serve.workers": workers, "serve.experiment": EXPERIMENT,
        "serve.impressions_dir": str(logs)})
