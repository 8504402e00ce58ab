"""Whole nightly runs through real Airflow, on a small generated shop (tests/dags/conftest.py).

1. `airflow dags test recs_nightly 2026-11-14`: every task succeeds; a validated snapshot is live and
   exported to the local "S3" folder, with the gate's figures in its manifest.
2. A second run of the same date, triggered through the REST API of `airflow standalone` on a loopback
   port: the same snapshot digest and the same lake outputs; then the lookup server (gunicorn) answers
   from that snapshot. Every process started is stopped.
3. A corrupt input partition: the ingest task fails with a clear log line, the run is marked failed,
   nothing downstream runs, and the previous snapshot stays live.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from export import manifest, store
from tests.dags.conftest import RUN_DATE, airflow, airflow_local
from tests.dags.test_recs_nightly import EXPECTED_GRAPH

pytestmark = [pytest.mark.airflow, pytest.mark.slow]
OUTPUTS = ("ranked", "similar_items", "fbt_pairs", "popularity", "als_candidates")


def overlay(env: dict) -> dict:
    return yaml.safe_load(Path(env["RECS_CONFIG"]).read_text())


def json_output(done) -> list:
    """The JSON table an `airflow ... -o json` command printed (its log lines aside)."""
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("[")))


def task_states(env: dict, run_id: str) -> dict[str, str]:
    rows = json_output(airflow(env, "tasks", "states-for-dag-run", "recs_nightly", run_id, "-o", "json"))
    return {row["task_id"]: row["state"] for row in rows}


def latest_run(env: dict) -> dict:
    runs = json_output(airflow(env, "dags", "list-runs", "recs_nightly", "-o", "json"))
    return max(runs, key=lambda run: run["end_date"] or "")


def fingerprint(lake: str, date: str) -> dict[str, str]:
    """sha256 of each output dataset of `date`, over its rows sorted (file layout aside), scores rounded."""
    prints = {}
    for name in OUTPUTS:
        frame = pd.read_parquet(f"{lake}/curated/{name}/dt={date}")
        frame = frame.round(6).sort_values(list(frame.columns)).reset_index(drop=True)
        prints[name] = hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()
    return prints


@pytest.fixture(scope="module")
def first_run(airflow_env):
    done = airflow(airflow_env, "dags", "test", "recs_nightly", RUN_DATE, timeout=1500)
    settings = overlay(airflow_env)
    root = Path(settings["paths"]["snapshots"])
    return {"done": done, "run": latest_run(airflow_env), "root": root, "live": store.current(root),
            "lake": settings["paths"]["lake"], "s3": Path(settings["s3"]["local_dir"])}


def test_dags_test_runs_every_task_and_leaves_a_validated_live_snapshot(airflow_env, first_run):
    assert first_run["done"].returncode == 0, first_run["done"].stdout[-4000:] + first_run["done"].stderr[-4000:]
    assert first_run["run"]["state"] == "success"
    states = task_states(airflow_env, first_run["run"]["run_id"])
    assert states == {task: "success" for task in EXPECTED_GRAPH}

    live = first_run["live"]
    assert live and live.startswith(RUN_DATE + "-")
    man = store.validate(first_run["root"] / live)
    assert man["run_date"] == RUN_DATE and man["counts"]["user_recs"] > 100
    assert man["metrics"]["gate"]["ranked"]["ndcg"] > 0                 # the run's figures travel with it
    exported = first_run["s3"] / "recs" / "snapshots" / live
    assert manifest.read(exported) == manifest.read(first_run["root"] / live)
    assert store.verify_files(exported)["digest"] == man["digest"]


def test_a_second_run_from_the_rest_api_gives_the_same_snapshot_and_the_server_answers(airflow_env, first_run):
    from conf import load_config
    from tests.lookup_server.conftest import get, start_server

    assert first_run["done"].returncode == 0, "the first run failed; see the test above"
    before = fingerprint(first_run["lake"], RUN_DATE)
    home, port = Path(airflow_env["AIRFLOW_HOME"]), int(airflow_env["AIRFLOW__API__PORT"])
    base = f"http://127.0.0.1:{port}"
    process = airflow_local.start(airflow_env, home / "standalone.log")
    try:
        token = wait_for_token(base, home, process)
        call(base, token, "GET", "/api/v2/dags/recs_nightly", wait=120)     # parsed by the dag-processor
        assert call(base, token, "PATCH", "/api/v2/dags/recs_nightly", {"is_paused": False})["is_paused"] is False
        run = call(base, token, "POST", "/api/v2/dags/recs_nightly/dagRuns",
                   {"dag_run_id": "e2e-rerun", "logical_date": None, "conf": {"date": RUN_DATE}})
        state = poll(base, token, f"/api/v2/dags/recs_nightly/dagRuns/{run['dag_run_id']}", timeout=1200)
        assert state == "success", (home / "standalone.log").read_text()[-5000:]
    finally:
        airflow_local.stop(process)
    assert process.poll() is not None

    assert store.current(first_run["root"]) == first_run["live"]        # same date, config, inputs: same digest
    assert fingerprint(first_run["lake"], RUN_DATE) == before            # every task is idempotent for its date

    config = load_config(env="local", config_file=airflow_env["RECS_CONFIG"], environ={})
    server, served = start_server(config)
    try:
        status, body = get(served, "/v1/snapshot")
        assert status == 200 and body["name"] == first_run["live"]
        user = pd.read_parquet(f"{first_run['lake']}/curated/ranked/dt={RUN_DATE}").iloc[0]["user_id"]
        status, body = get(served, f"/v1/users/{user}/recommendations?k=5")
        assert status == 200 and len(body["items"]) == 5 and body["snapshot"] == first_run["live"]
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_a_corrupt_input_partition_fails_the_run_and_keeps_the_previous_snapshot_live(
        airflow_env, first_run, tmp_path):
    assert first_run["live"], "no snapshot from the first run"
    settings = overlay(airflow_env)
    raw = tmp_path / "raw"
    shutil.copytree(settings["paths"]["raw"], raw)
    corrupt = raw / "events" / "dt=2026-11-15"
    corrupt.mkdir(parents=True)
    (corrupt / "part-00000.jsonl").write_text("".join(
        [f'{{"event_id": "x{n}", "event_time": "not a time", "user_id": "", "event_type": "teleport"}}\n'
         for n in range(50)] + ["{truncated\n"] * 10))
    bad = tmp_path / "overlay.yaml"
    bad.write_text(yaml.safe_dump({**settings, "paths": {**settings["paths"], "raw": str(raw)}}))

    done = airflow(airflow_env, "dags", "test", "recs_nightly", "2026-11-15", "-c",
                   json.dumps({"config": str(bad)}), timeout=900)
    log = done.stdout + done.stderr
    assert "ingest.max_bad_share" in log and "quarantined" in log, log[-4000:]
    run = latest_run(airflow_env)
    assert run["state"] == "failed"
    states = task_states(airflow_env, run["run_id"])
    assert states["ingest"] == "failed"
    assert {states[task] for task in EXPECTED_GRAPH if task != "ingest"} == {"upstream_failed"}
    assert store.current(first_run["root"]) == first_run["live"]
    assert not list(first_run["root"].glob("2026-11-15-*"))


# ---- the REST API of Airflow 3 ----

def request(base: str, method: str, path: str, body=None, token: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def wait_for_token(base: str, home: Path, process, timeout: float = 180) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, (home / "standalone.log").read_text()[-5000:]
        password = airflow_local.admin_password(home)
        if password:
            try:
                return request(base, "POST", "/auth/token", {"username": "admin", "password": password})[
                    "access_token"]
            except (urllib.error.URLError, ConnectionError):
                pass
        time.sleep(1)
    raise AssertionError("Airflow's API server did not come up:\n" + (home / "standalone.log").read_text()[-5000:])


def call(base: str, token: str, method: str, path: str, body=None, wait: float = 0):
    deadline = time.time() + wait
    while True:
        try:
            return request(base, method, path, body, token)
        except urllib.error.HTTPError as err:
            if time.time() >= deadline:
                raise AssertionError(f"{method} {path}: {err.code} {err.read()[:500]!r}") from None
        time.sleep(2)


def poll(base: str, token: str, path: str, timeout: float) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = call(base, token, "GET", path)["state"]
        if state in ("success", "failed"):
            return state
        time.sleep(5)
    raise AssertionError(f"{path} still running after {timeout} s")
