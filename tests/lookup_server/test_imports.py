"""A lookup server worker reads RocksDB only: importing the app loads no Spark, pandas or Airflow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("pyspark", "pandas", "airflow", "py4j", "xgboost", "faiss", "implicit")
PROBE = f"""
import json, sys
import lookup_server.app, lookup_server.commands
app = lookup_server.app.create_app
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))
"""


def test_importing_the_server_loads_no_spark_pandas_or_airflow():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=120,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_probe_would_see_a_heavy_import():
    """The same probe after importing the Spark builder does list pyspark (so the check above can fail)."""
    out = subprocess.run([sys.executable, "-c", "import export.builder\n" + PROBE], cwd=REPO, capture_output=True,
                         text=True, timeout=120, check=True)
    assert "pyspark" in json.loads(out.stdout.strip().splitlines()[-1])
