"""The nightly DAG as Airflow loads it: no import errors, no heavy imports, the expected graph and settings."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conf import load_config
from tests.dags.conftest import REPO, dag_structure

pytestmark = pytest.mark.airflow

EXPECTED_GRAPH = {
    "has_input": ["ingest"],
    "ingest": ["experiment_report", "interactions"],
    "interactions": ["als", "fbt_pairs", "item_similarity", "popularity"],
    "popularity": ["ranking"], "item_similarity": ["content", "ranking"], "fbt_pairs": ["ranking"],
    "content": ["ranking"], "als": ["ranking"],
    "ranking": ["quality_gate"],
    "quality_gate": ["snapshot"],
    "snapshot": ["validate"],
    "validate": ["publish"],
    "publish": ["export"],
    "export": [],
    "ship_logs": ["experiment_report"],
    "experiment_report": [],
}
LIGHT_TASKS = {"validate", "publish", "export", "ship_logs"}
CHECK_TASKS = {"has_input"}


@pytest.fixture(scope="module")
def structure(airflow_env):
    """The DAG as the default configuration shapes it (without the test overlay)."""
    return dag_structure({k: v for k, v in airflow_env.items() if k != "RECS_CONFIG"})


def test_the_dag_folder_loads_without_import_errors(structure):
    assert structure["errors"] == {}
    assert structure["dags"] == ["recs_nightly"]          # airflow_local.py is ignored (.airflowignore)


def test_the_task_graph_is_the_nightly_chain(structure):
    assert structure["graph"] == EXPECTED_GRAPH


def test_spark_steps_are_spark_submits_on_the_configured_connection_with_backoff(structure, airflow_env):
    config = load_config(env="local", environ={})
    for task_id, task in structure["tasks"].items():
        if task_id in CHECK_TASKS:
            assert task["type"] == "ShortCircuitOperator"
        elif task_id in LIGHT_TASKS:
            assert task["type"] == "PythonOperator"
        else:
            assert task["type"] == "SparkSubmitOperator" and task["conn_id"] == config.airflow.spark_conn_id
        assert task["backoff"] and task["retries"] == config.airflow.retries
        assert task["doc"].startswith(f"**{task_id}**: ") and len(task["doc"]) > 40
        assert task["on_failure"] == ["report_failure"]           # Airflow's own callback reports a failed task
    assert structure["catchup"] is False and structure["params"] == ["config", "date", "env"]
    assert structure["dag_on_failure"] == ["report_failure"]
    assert structure["start"].startswith(config.airflow.start_date.isoformat()) and "+00:00" in structure["start"]
    assert config.airflow.schedule in structure["schedule"]


def test_importing_the_dag_file_imports_no_heavy_library(airflow_env):
    script = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("recs_nightly", {str(REPO / 'dags' / 'recs_nightly.py')!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
heavy = ("pyspark", "faiss", "xgboost", "implicit", "rocksdict", "sklearn", "pandas")
print("JSON" + json.dumps({{"loaded": [m for m in heavy if m in sys.modules], "tasks": len(module.dag.tasks)}}))
"""
    done = subprocess.run([sys.executable, "-c", script], env=airflow_env, cwd=REPO, text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("JSON", 1)[1])
    assert result == {"loaded": [], "tasks": len(EXPECTED_GRAPH)}


def test_the_local_airflow_jwt_secret_is_readable_by_its_owner_only(tmp_path):
    from tests.dags.conftest import airflow_local

    env = airflow_local.environment(tmp_path / "home", port=18080)
    secret = tmp_path / "home" / "jwt_secret"
    assert secret.stat().st_mode & 0o777 == 0o600 and len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 64
    secret.chmod(0o644)                           # one left readable by an older launcher is tightened
    airflow_local.environment(tmp_path / "home", port=18080)
    assert secret.stat().st_mode & 0o777 == 0o600


def test_every_param_may_stay_empty_in_the_trigger_form_and_the_docs_render(structure):
    """A param whose type excludes null is required in Airflow 3's Trigger and Backfill forms."""
    for name in ("config", "date"):
        assert "null" in structure["param_schemas"][name]["type"], name
    assert "<env>" not in structure["dag_doc"] and "conf/ENV.yaml" in structure["dag_doc"]
    assert "w/ config" not in structure["dag_doc"]                                 # Airflow 2's wording


def test_stopping_the_launcher_ends_task_processes_in_groups_of_their_own():
    """Airflow runs each task (spark-submit and its JVM) in a process group of its own: stop() still ends it."""
    import os
    import time

    from tests.dags.conftest import airflow_local

    spawn = ("import subprocess, sys, time\n"
             "task = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], "
             "start_new_session=True)\nprint(task.pid, flush=True)\ntime.sleep(120)\n")
    launcher = subprocess.Popen([sys.executable, "-c", spawn], stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
    task = int(launcher.stdout.readline())
    assert task in airflow_local.descendants(launcher.pid)
    airflow_local.stop(launcher, grace=2)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(task, 0)
            state = open(f"/proc/{task}/stat").read().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                break
        except (ProcessLookupError, FileNotFoundError):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"task process {task} survived the launcher's stop")


def test_a_spark_connection_set_in_the_environment_is_kept(tmp_path, monkeypatch):
    from tests.dags.conftest import airflow_local

    cluster = '{"conn_type": "spark", "host": "spark://10.0.0.5:7077"}'
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", cluster)
    assert airflow_local.environment(tmp_path / "home", port=18081)["AIRFLOW_CONN_SPARK_DEFAULT"] == cluster
    monkeypatch.delenv("AIRFLOW_CONN_SPARK_DEFAULT")
    monkeypatch.setenv("RECS_SPARK_MASTER", "spark://127.0.0.1:7077")
    assert "spark://127.0.0.1:7077" in airflow_local.environment(tmp_path / "home", port=18081)[
        "AIRFLOW_CONN_SPARK_DEFAULT"]
    monkeypatch.delenv("RECS_SPARK_MASTER")
    monkeypatch.delenv("RECS_CONFIG", raising=False)
    for env, master in (("local", "local[2]"), ("standalone", "spark://127.0.0.1:7077")):
        monkeypatch.setenv("RECS_ENV", env)         # the master of the configuration the DAG runs with
        connection = airflow_local.environment(tmp_path / "home", port=18081)["AIRFLOW_CONN_SPARK_DEFAULT"]
        assert json.loads(connection)["host"] == master
