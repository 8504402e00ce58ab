"""A/B assignment (stable across processes, shares respected) and a served experiment with impression logs."""

from __future__ import annotations

import json
import subprocess
import sys

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
    config = load_config(env="local", environ={}, overrides={
        "paths.snapshots": str(server["root"]), "serve.workers": 2, "serve.experiment": EXPERIMENT,
        "serve.impressions_dir": str(tmp_path / "impressions")})
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
    lines = [json.loads(line) for path in (tmp_path / "impressions").glob("impressions-*.jsonl")
             for line in path.read_text().splitlines()]
    logged = {line["request_id"]: line for line in lines}
    assert set(answers) <= set(logged)
    for request_id, body in answers.items():
        line = logged[request_id]
        assert line["variant"] == body["variant"] and line["experiment"] == "home-trending"
        assert line["items"] == [i["item_id"] for i in body["items"]] and line["user_id"] and line["time"] > 0


def test_impression_logs_of_exited_workers_are_cleaned_and_an_empty_own_log_removed(tmp_path):
    import os
    import subprocess
    import sys
    import time

    from lookup_server.experiments import ImpressionLog

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()                     # a pid that has exited
    folder = tmp_path / "impressions"
    folder.mkdir()
    (folder / f"impressions-{dead}.jsonl").write_text("")                 # empty: removed
    old = folder / f"impressions-{int(dead) + 100000}.jsonl.1"
    old.write_text('{"x": 1}\n')                                           # a rotated part, 8 days old: removed
    os.utime(old, (time.time() - 8 * 86400,) * 2)
    young = folder / f"impressions-{int(dead) + 200000}.jsonl"
    young.write_text('{"x": 2}\n')                                         # an exited worker's data: kept
    mine = ImpressionLog(str(folder), max_mb=1, backups=1, keep_days=7)
    mine.write({"request_id": "r1"})
    assert sorted(p.name for p in folder.iterdir()) == sorted([young.name, f"impressions-{os.getpid()}.jsonl"])
    mine.close()
    assert (folder / f"impressions-{os.getpid()}.jsonl").read_text().count("r1") == 1   # written, kept
    empty = ImpressionLog(str(tmp_path / "other"), max_mb=1, backups=1)
    empty.write({"request_id": "r2"})
    (tmp_path / "other" / f"impressions-{os.getpid()}.jsonl").write_text("")
    empty.handle.truncate(0)
    empty.handle.seek(0)
    empty.close()
    assert list((tmp_path / "other").iterdir()) == []                                  # an empty log goes
