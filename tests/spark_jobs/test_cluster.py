"""Opt-in (`make test-cluster`): the nightly chain of the committed synthetic sample on a real Spark standalone
cluster (master and two workers started here, as `make spark-cluster` starts them) gives the same snapshot
digest and the same lists as local mode, on the same lake path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from tests.helpers import LIGHT_RANKING, assert_same_lists
from tests.lookup_server.conftest import REPO

pytestmark = [pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.skipif(not os.environ.get("TEST_CLUSTER"), reason="opt-in: make test-cluster")]
DATE = "2026-11-14"
LISTS = ("ranked", "similar_items", "fbt_pairs", "popularity", "als_candidates")


def run_chain(tmp_path, master: str) -> tuple[str, dict[str, pd.DataFrame]]:
    settings = {**LIGHT_RANKING, "spark.master": master, "paths.lake": str(tmp_path / "lake"),
                "paths.snapshots": str(tmp_path / "snapshots"), "paths.logs_raw": str(tmp_path / "logs"),
                "s3.local_dir": str(tmp_path / "s3"), "spark.log_dir": str(tmp_path / "spark-logs"),
                "serve.impressions_dir": str(tmp_path / "server-logs"), "spark.extra": {"spark.cores.max": 2}}
    argv = [sys.executable, str(REPO / "recs.py"), "--env", "local"]
    for key, value in settings.items():
        argv += ["--set", f"{key}={json.dumps(value) if isinstance(value, list | dict) else value}"]
    done = subprocess.run([*argv, "run", "--date", DATE], cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    live = (tmp_path / "snapshots" / "CURRENT").read_text().strip()
    lists = {name: pd.read_parquet(tmp_path / "lake" / "curated" / name / f"dt={DATE}") for name in LISTS}
    shutil.rmtree(tmp_path / "lake")
    shutil.rmtree(tmp_path / "snapshots")
    return live, lists


@pytest.mark.timeout(3600)
def test_the_chain_on_a_standalone_cluster_matches_local_mode(tmp_path):
    from spark_jobs import cluster_local

    local_name, local_lists = run_chain(tmp_path, "local[2]")
    started = cluster_local.start(workers=2, cores=1, memory="2g", root=tmp_path / "cluster")
    try:
        assert cluster_local.wait_for(f"http://127.0.0.1:{cluster_local.MASTER_UI}/json/", 60)
        cluster_name, cluster_lists = run_chain(tmp_path, f"spark://127.0.0.1:{cluster_local.MASTER_PORT}")
        assert (tmp_path / "cluster" / "spark-cluster" / "worker-0").is_dir()       # executors ran on the workers
    finally:
        cluster_local.stop(started)
    assert all(process.poll() is not None for _, process in started)
    assert cluster_name == local_name                                   # the same digest
    assert_same_lists(local_lists, cluster_lists)
