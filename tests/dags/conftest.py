"""A local Airflow for the DAG tests: its own AIRFLOW_HOME (SQLite) and a test configuration.

Airflow runs as subprocesses with the environment `make airflow` uses (dags/airflow_local.py), so the
DagBag, `airflow dags test` and standalone all see the project's dags/ folder, never a mock of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "dags"))
import airflow_local  # noqa: E402

RUN_DATE = "2026-11-14"       # the last day of the shop generated below

# A small generated shop and light model settings, so that a whole nightly run takes a few minutes.
# A shop this small is too noisy for the ranker to beat popularity reliably on a 2-day holdout, so the
# gate here tolerates falling 50% below a baseline and decides on as few as 10 holdout users: these tests are
# about orchestration; the gate's own behaviour is tested in tests/spark_jobs/offline/test_gate.py and
# tests/spark_jobs/test_ranking_job.py.
SHOP = ["--users", "600", "--items", "150", "--days", "8", "--start", "2026-11-07"]
LIGHT = {
    "ranking": {"sources": ["buy_again", "popular_recent", "item_knn"], "candidates_per_source": 30,
                "label_days": 3, "label_windows": 1, "min_train_users": 0, "list_length": 30,
                "params": {"n_estimators": 30}},
    "gate": {"holdout_days": 2, "baseline_tolerance": 0.5, "min_users": 10, "min_positives": 10,
             "max_holdout_days": 2},
    "als": {"iterations": 5, "factors": 16},
    "airflow": {"retries": 0, "schedule": None},     # manual runs only: unpausing starts nothing by itself
}


def airflow(env: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the `airflow` command of this venv; output captured as text."""
    return subprocess.run([str(airflow_local.BIN / "airflow"), *args], env=env, cwd=REPO, text=True,
                          capture_output=True, timeout=timeout)


def workspace(root: Path, raw: Path) -> Path:
    """A YAML overlay putting raw input, the lake, snapshots and "S3" under root; returns its path."""
    overlay = {"paths": {"raw": str(raw), "lake": str(root / "lake"), "snapshots": str(root / "snapshots"),
                         "logs_raw": str(root / "logs_raw")},
               "s3": {"local_dir": str(root / "s3")}, "serve": {"impressions_dir": str(root / "server_logs")}, **LIGHT}
    path = root / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return path


@pytest.fixture(scope="session")
def shop(tmp_path_factory) -> Path:
    """Raw events and catalog of a small generated shop (seeded: the same every run)."""
    raw = tmp_path_factory.mktemp("shop") / "raw"
    done = subprocess.run([str(airflow_local.BIN / "recs"), "generate", "--out", str(raw), *SHOP],
                          cwd=REPO, text=True, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return raw


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory, shop):
    """Environment of a migrated local Airflow whose processes read the test overlay ($RECS_CONFIG)."""
    root = tmp_path_factory.mktemp("airflow")
    env = airflow_local.environment(root / "home", port=airflow_local.free_port(),    # beside a `make airflow`
                                    log_ports=(airflow_local.free_port(), airflow_local.free_port()))
    env["RECS_CONFIG"] = str(workspace(root, shop))
    env["RECS_ENV"] = "local"
    done = airflow(env, "db", "migrate", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return env


def dag_structure(env: dict) -> dict:
    """Load the DAG folder in a fresh interpreter with a DagBag; import errors, graph, task settings."""
    script = f"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag({str(REPO / "dags")!r})
dag = bag.dags.get("recs_nightly")
out = {{"errors": {{k: str(v) for k, v in bag.import_errors.items()}}, "dags": sorted(bag.dags)}}
if dag:
    out["graph"] = {{t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}}
    out["tasks"] = {{t.task_id: {{"type": type(t).__name__, "conn_id": getattr(t, "_conn_id", None),
                                  "retries": t.retries, "backoff": bool(t.retry_exponential_backoff),
                                  "doc": t.doc_md or "",
                                  "on_failure": [f.__name__ for f in (t.on_failure_callback or [])]}}
                  for t in dag.tasks}}
    callbacks = dag.on_failure_callback or []
    out["dag_on_failure"] = [f.__name__ for f in (callbacks if isinstance(callbacks, list) else [callbacks])]
    out["catchup"], out["schedule"] = dag.catchup, str(dag.schedule)
    out["params"] = sorted(dag.params.keys())
    out["param_schemas"] = {{k: dag.params.get_param(k).schema for k in dag.params.keys()}}
    out["dag_doc"] = dag.doc_md or ""
    out["start"] = dag.start_date.isoformat()
print("JSON" + json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, text=True, capture_output=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.split("JSON", 1)[1])
