"""Whole nightly runs through real Airflow.

In `make test`, on a small generated shop (tests/dags/conftest.py):
1. `airflow standalone` on a loopback port; a run triggered through its REST API runs every task to
   success; a validated snapshot is live and exported to the local "S3" folder, with the gate's figures
   in its manifest; the lookup server (gunicorn) answers from it. Every process started is stopped.
2. A corrupt input partition (`airflow dags test`): the ingest task fails with a clear log line, the run
   is marked failed, nothing downstream runs, and the previous snapshot stays live.

Opt-in (`make test-airflow-dags`, about 18 minutes; marker airflow_full): `airflow dags test recs_nightly` twice on each
committed sample (synthetic: 2026-11-14; Online Retail: 2011-12-09, given as the `date` param): every
task succeeds both times, the snapshot validates, and the second run gives the same snapshot digest and
the same lists.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from export import manifest, store
from tests.dags.conftest import REPO, RUN_DATE, airflow, airflow_local, workspace
from tests.dags.test_recs_nightly import EXPECTED_GRAPH
from tests.helpers import assert_same_lists

pytestmark = [pytest.mark.airflow, pytest.mark.slow]
LISTS = ("ranked", "similar_items", "fbt_pairs", "popularity", "als_candidates")


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


def read_lists(lake: str, date: str) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(f"{lake}/curated/{name}/dt={date}") for name in LISTS}


def assert_published(settings: dict, live: str, date: str = RUN_DATE) -> dict:
    """A live, valid snapshot of date, exported whole to the local "S3" folder; its manifest."""
    root = Path(settings["paths"]["snapshots"])
    assert live and live.startswith(date + "-") and store.current(root) == live
    man = store.validate(root / live)
    assert man["run_date"] == date and man["counts"]["user_recs"] > 100
    assert man["metrics"]["gate"]["ranked"]["ndcg"] > 0                 # the run's figures travel with it
    exported = Path(settings["s3"]["local_dir"]) / "recs" / "snapshots" / live
    assert manifest.read(exported) == man and store.verify_files(exported)
    return man


@pytest.fixture(scope="module")
def standalone_run(airflow_env):
    """A run of recs_nightly for RUN_DATE triggered through the REST API of `airflow standalone`."""
    home, port = Path(airflow_env["AIRFLOW_HOME"]), int(airflow_env["AIRFLOW__API__PORT"])
    base = f"http://127.0.0.1:{port}"
    process = airflow_local.start(airflow_env, home / "standalone.log")
    try:
        token = wait_for_token(base, home, process)
        call(base, token, "GET", "/api/v2/dags/recs_nightly", wait=120)     # parsed by the dag-processor
        assert call(base, token, "PATCH", "/api/v2/dags/recs_nightly", {"is_paused": False})["is_paused"] is False
        run = call(base, token, "POST", "/api/v2/dags/recs_nightly/dagRuns",
                   {"dag_run_id": "e2e", "logical_date": None, "conf": {"date": RUN_DATE}})
        path = f"/api/v2/dags/recs_nightly/dagRuns/{run['dag_run_id']}"
        state = poll(base, token, path, timeout=1200)
        tasks = {t["task_id"]: t["state"] for t in call(base, token, "GET", path + "/taskInstances")["task_instances"]}
    finally:
        airflow_local.stop(process)
    task_logs = "".join(path.read_text(errors="replace") for path in (home / "logs").rglob("*.log"))
    return {"state": state, "tasks": tasks, "exited": process.poll() is not None,
            "log": (home / "standalone.log").read_text()[-5000:], "task_logs": task_logs,
            "live": store.current(Path(overlay(airflow_env)["paths"]["snapshots"]))}


@pytest.mark.timeout(1800)                 # the fixture's whole run counts too
def test_a_run_triggered_from_the_rest_api_publishes_a_snapshot_the_server_answers_from(airflow_env,
                                                                                         standalone_run):
    from conf import load_config
    from tests.lookup_server.conftest import get, start_server

    assert standalone_run["state"] == "success", standalone_run["log"]
    assert standalone_run["tasks"] == {task: "success" for task in EXPECTED_GRAPH}
    assert standalone_run["exited"]                                      # every Airflow process stopped
    # no Spark plan of the chain moves all rows to one partition (Spark warns of every window without a key)
    assert "SparkContext" in standalone_run["task_logs"]                 # the Spark tasks' own output is there
    assert "No Partition Defined for Window operation" not in standalone_run["task_logs"]
    settings = overlay(airflow_env)
    assert_published(settings, standalone_run["live"])

    config = load_config(env="local", config_file=airflow_env["RECS_CONFIG"], environ={})
    server, served = start_server(config)
    try:
        status, body = get(served, "/v1/snapshot")
        assert status == 200 and body["id"] == standalone_run["live"]
        user = pd.read_parquet(f"{settings['paths']['lake']}/curated/ranked/dt={RUN_DATE}").iloc[0]["user_id"]
        status, body = get(served, f"/v1/users/{user}/recommendations?k=5")
        assert status == 200 and len(body["items"]) == 5 and body["snapshot"] == standalone_run["live"]
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_a_corrupt_input_partition_fails_the_run_and_keeps_the_previous_snapshot_live(
        airflow_env, standalone_run, tmp_path):
    assert standalone_run["state"] == "success", "no snapshot from the run before"
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
    assert states["has_input"] == "success" and states["ingest"] == "failed"
    assert states["ship_logs"] == "success"                            # needs nothing upstream
    assert {states[task] for task in EXPECTED_GRAPH
            if task not in ("has_input", "ingest", "ship_logs")} == {"upstream_failed"}
    assert "RECS TASK FAILED: dag recs_nightly, task ingest, run " in log      # Airflow's failure callback
    root = Path(settings["paths"]["snapshots"])
    assert store.current(root) == standalone_run["live"]
    assert not list(root.glob("2026-11-15-*"))


def test_a_date_without_raw_events_skips_the_run_and_says_why(airflow_env, standalone_run):
    """A scheduled run of a day whose data has not landed (the first run after switching the DAG on): every
    task after has_input is skipped, the run ends (success, nothing retried or held up), nothing changes."""
    assert standalone_run["state"] == "success", "no snapshot from the run before"
    settings = overlay(airflow_env)
    done = airflow(airflow_env, "dags", "test", "recs_nightly", "2026-11-25", timeout=600)
    assert "no raw events for 2026-11-25" in done.stdout + done.stderr, (done.stdout + done.stderr)[-4000:]
    run = latest_run(airflow_env)
    assert run["state"] == "success"
    states = task_states(airflow_env, run["run_id"])
    assert states["has_input"] == "success" and states["ship_logs"] == "success"
    assert {states[task] for task in EXPECTED_GRAPH if task not in ("has_input", "ship_logs")} == {"skipped"}
    assert store.current(Path(settings["paths"]["snapshots"])) == standalone_run["live"]


# The committed samples: configuration environment, raw folder, run date (the sample's last day).
SAMPLES = {"synthetic": ("local", "synthetic", RUN_DATE), "online_retail": ("retail", "online_retail", "2011-12-09")}


@pytest.mark.airflow_full
@pytest.mark.timeout(3600)
@pytest.mark.skipif(not os.environ.get("TEST_AIRFLOW_DAGS"), reason="opt-in: make test-airflow-dags")
@pytest.mark.parametrize("sample", SAMPLES)
def test_dags_test_twice_on_a_committed_sample_gives_the_same_snapshot(airflow_env, tmp_path, sample):
    env_name, folder, date = SAMPLES[sample]
    env = dict(airflow_env, RECS_ENV=env_name,
               RECS_CONFIG=str(workspace(tmp_path, REPO / "data_samples" / folder)))
    settings = overlay(env)
    runs = []
    for _ in range(2):      # the run date as a param, as a rebuild from the UI's "Trigger DAG w/ config" does
        done = airflow(env, "dags", "test", "recs_nightly", RUN_DATE, "-c",
                       json.dumps({"date": date, "env": env_name}), timeout=1800)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        run = latest_run(env)
        assert run["state"] == "success" and task_states(env, run["run_id"]) == {t: "success" for t in EXPECTED_GRAPH}
        live = store.current(Path(settings["paths"]["snapshots"]))
        runs.append({"live": live, "manifest": assert_published(settings, live, date),
                     "lists": read_lists(settings["paths"]["lake"], date)})
    assert runs[1]["live"] == runs[0]["live"]                           # the same snapshot digest
    assert runs[1]["manifest"]["digest"] == runs[0]["manifest"]["digest"]
    assert_same_lists(runs[0]["lists"], runs[1]["lists"])               # every task is idempotent for its date


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
