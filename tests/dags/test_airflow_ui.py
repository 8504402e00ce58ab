"""Opt-in (`make test-airflow-ui`): a new user's path through the Airflow UI, in a real browser.

`make spark-cluster` and `RECS_ENV=standalone make airflow`, as the
README says (started here by the same code, on their own folders and ports): sign in, open recs_nightly, open
the Trigger form, leave every param at its default except the date of the committed sample, press Trigger
(which also switches the DAG on, the form's default). The scheduled run that switching on starts has no raw
events and skips; the triggered run completes on the standalone cluster and publishes a snapshot. Chromium
is Debian's (`/usr/bin/chromium`), driven by Playwright.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import urllib.request
from pathlib import Path

import pytest

from spark_jobs.steps import STEPS
from tests.dags.conftest import REPO, airflow_local
from tests.dags.test_nightly_runs import call, wait_for_token

pytestmark = [pytest.mark.airflow_ui, pytest.mark.slow,
              pytest.mark.skipif(not os.environ.get("TEST_AIRFLOW_UI"), reason="opt-in: make test-airflow-ui")]
SAMPLE_DATE = "2026-11-14"          # the committed synthetic sample's last day
SPARK_STEPS = [step.name for step in STEPS if step.spark]      # the tasks run by spark-submit
SPARK_TASKS = len(SPARK_STEPS)
CHROMIUM = os.environ.get("RECS_CHROMIUM", "/usr/bin/chromium")


def overlay(root: Path) -> Path:
    """The committed sample as raw input; lake, snapshots, "S3" and logs under root; Spark's event logs where the
    cluster's history server reads them (as conf/standalone.yaml and `make spark-cluster` share var/spark-events)."""
    settings = {"paths": {"raw": str(REPO / "data_samples" / "synthetic"), "lake": str(root / "lake"),
                          "snapshots": str(root / "snapshots"), "logs_raw": str(root / "logs_raw")},
                "s3": {"local_dir": str(root / "s3")}, "serve": {"impressions_dir": str(root / "server_logs")},
                "spark": {"event_log_dir": str(root / "cluster" / "spark-events"), "log_dir": str(root / "spark-logs")}}
    path = root / "overlay.yaml"
    path.write_text(json.dumps(settings))
    return path


def trigger_from_the_form(base: str, password: str, date: str, shots: Path) -> dict:
    """Sign in, open the DAG's Trigger form, type only the date, press Trigger; what the form showed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(base + "/")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(base + "/**")
        page.goto(base + "/dags/recs_nightly")
        page.get_by_role("button", name="Trigger").wait_for(timeout=120_000)     # parsed by the dag-processor
        page.get_by_role("button", name="Trigger").click()
        form = page.get_by_role("dialog")
        submit = form.get_by_role("button", name="Trigger")
        shown = {"env": form.locator("input[name=element_env]").input_value(),
                 "config": form.locator("#element_config").input_value(),
                 "date": form.locator("#element_date").input_value(),
                 "unpause": form.get_by_label("Unpause recs_nightly on trigger").is_checked(),
                 "enabled_with_defaults": submit.is_enabled()}
        form.locator("#element_date").fill(date)
        page.screenshot(path=str(shots / "trigger-form.png"), full_page=True)
        submit.click()
        form.wait_for(state="hidden", timeout=30_000)
        browser.close()
    return shown


@pytest.mark.timeout(3600)
def test_a_run_triggered_from_the_ui_form_completes_on_the_standalone_cluster(tmp_path):
    from spark_jobs import cluster_local

    env_file = overlay(tmp_path)
    started = cluster_local.start(workers=2, cores=1, memory="2g", root=tmp_path / "cluster")
    home = tmp_path / "home"
    env = airflow_local.environment(home, port=airflow_local.free_port(),
                                    master=f"spark://127.0.0.1:{cluster_local.MASTER_PORT}",
                                    log_ports=(airflow_local.free_port(), airflow_local.free_port()))
    env.update(RECS_ENV="standalone", RECS_CONFIG=str(env_file))
    base = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}"
    process = airflow_local.start(env, tmp_path / "standalone.log")
    try:
        assert cluster_local.wait_for(f"http://127.0.0.1:{cluster_local.MASTER_UI}/json/", 60)
        token = wait_for_token(base, home, process)
        shown = trigger_from_the_form(base, airflow_local.admin_password(home), SAMPLE_DATE, tmp_path)
        runs = poll_runs(base, token, timeout=2400)
        manual = next(run for run in runs if run["run_type"] == "manual")
        tasks = call(base, token, "GET", f"/api/v2/dags/recs_nightly/dagRuns/{manual['dag_run_id']}/taskInstances")
        history = history_apps(f"http://127.0.0.1:{cluster_local.HISTORY_UI}", SPARK_TASKS, timeout=60)
    finally:
        airflow_local.stop(process)
        cluster_local.stop(started)
    durations = {t["task_id"]: round(t["duration"] or 0) for t in tasks["task_instances"]}
    print("task durations (s):", json.dumps(durations), "run:", run_seconds(manual))

    # the form's defaults are the environment `make airflow` was started with; Trigger is enabled with them
    assert shown == {"env": "standalone", "config": env["RECS_CONFIG"], "date": "", "unpause": True,
                     "enabled_with_defaults": True}
    assert manual["conf"] == {"date": SAMPLE_DATE, "env": "standalone", "config": env["RECS_CONFIG"]}
    assert manual["state"] == "success", (tmp_path / "standalone.log").read_text()[-5000:]
    assert {t["task_id"]: t["state"] for t in tasks["task_instances"]} == dict.fromkeys(durations, "success")
    # switching the DAG on scheduled today's interval: no raw events, so it skipped instead of failing
    scheduled = [run for run in runs if run["run_type"] == "scheduled"]
    assert all(run["state"] == "success" for run in scheduled)
    # every Spark task ran on the cluster and left its application's event log for the history server
    logs = list((tmp_path / "cluster" / "spark-events").iterdir())
    assert len(logs) == SPARK_TASKS and all("app-" in p.name for p in logs)
    assert sorted(history) == sorted(f"recs-{step}-{SAMPLE_DATE}" for step in SPARK_STEPS)   # the history server
    assert (tmp_path / "snapshots" / "CURRENT").is_file() and (tmp_path / "s3").is_dir()
    assert all(p.poll() is not None for _, p in started)


def poll_runs(base: str, token: str, timeout: float) -> list[dict]:
    """recs_nightly's runs once a manual one exists and none is queued or running."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = call(base, token, "GET", "/api/v2/dags/recs_nightly/dagRuns")["dag_runs"]
        if any(r["run_type"] == "manual" for r in runs) and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        time.sleep(10)
    raise AssertionError(f"recs_nightly still running after {timeout} s")


def history_apps(url: str, count: int, timeout: float) -> list[str]:
    """The names of the applications Spark's history server lists, once it lists `count` (it scans every 10 s)."""
    deadline = time.time() + timeout
    while True:
        with urllib.request.urlopen(url + "/api/v1/applications", timeout=10) as resp:
            names = [app["name"] for app in json.loads(resp.read())]
        if len(names) >= count or time.time() > deadline:
            return names
        time.sleep(5)


def run_seconds(run: dict) -> float:
    start, end = (dt.datetime.fromisoformat(run[key]) for key in ("start_date", "end_date"))
    return round((end - start).total_seconds())
