"""Shared fixtures: one local SparkSession for the whole run, and configurations in tmp folders."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from conf import load_config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """A real local SparkSession (local[2], few shuffle partitions), shared by every Spark test."""
    from spark_jobs.session import get_spark

    config = load_config(env="local", environ={}, overrides={
        "spark.master": "local[2]", "spark.shuffle_partitions": 2, "spark.driver_memory": "3g",
        "spark.local_dir": str(tmp_path_factory.mktemp("spark-local")),
        "spark.log_dir": str(tmp_path_factory.mktemp("spark-logs")),
        "spark.extra": {"spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("warehouse"))},
    })
    session = get_spark(config.spark, "recs-tests")
    yield session
    session.stop()


@pytest.fixture
def make_config(tmp_path):
    """Build a Config whose raw and lake folders live under tmp_path; keyword overrides as dotted keys."""
    def build(**overrides):
        values = {"paths.raw": str(tmp_path / "raw"), "paths.logs_raw": str(tmp_path / "raw"),
                  "paths.lake": str(tmp_path / "lake"), "serve.impressions_dir": str(tmp_path / "server_logs"),
                  "paths.snapshots": str(tmp_path / "snapshots"), "spark.shuffle_partitions": 2,
                  "ingest.output_files": 2, "interactions.output_files": 2}
        values.update({k.replace("__", "."): v for k, v in overrides.items()})
        return load_config(env="local", environ={}, overrides=values)
    return build


def write_lines(folder: Path, rows, name: str = "part-00000.jsonl") -> Path:
    """Write rows (dicts, or str lines taken as they are) as a JSONL file in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# ---- snapshots: small run outputs and a builder call (tests/export, tests/lookup_server) ----
RUN = dt.date(2026, 11, 14)
ITEMS = [f"i{n}" for n in range(30)]


def list_rows(spark, keys: int, per_key: int, prefix: str, reason: str = "als"):
    rows = [(f"{prefix}{k}", ITEMS[(k + r) % len(ITEMS)], float(per_key - r), reason, r + 1)
            for k in range(keys) for r in range(per_key)]
    return spark.createDataFrame(rows, "key string, item_id string, score double, reason string, rank int")


@pytest.fixture
def inputs(spark):
    lists = {"user_recs": list_rows(spark, 50, 10, "u"), "similar": list_rows(spark, 30, 5, "i", "also_viewed"),
             "fbt": list_rows(spark, 10, 3, "i", "also_bought"),
             "popular": list_rows(spark, 2, 20, "recent:", "recent")}
    meta = spark.createDataFrame([(i, f'{{"title": "item {i}", "in_stock": true}}') for i in ITEMS],
                                 "key string, fields string")
    return lists, meta


@pytest.fixture
def build(spark, inputs, make_config, tmp_path):
    """build(digest, **snapshot_overrides) -> folder, under tmp_path/snapshots."""
    from export import builder

    def run(digest="d1", **overrides):
        settings = make_config(**{f"snapshot__{k}": v for k, v in overrides.items()}).snapshot
        lists, meta = inputs
        return builder.build(spark, tmp_path / "snapshots", RUN, digest, lists, meta, {"run": {"digest": digest}},
                             settings, metrics={"ndcg@20": 0.3})
    return run
