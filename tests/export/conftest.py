"""Snapshot fixtures: small run outputs as DataFrames, and a builder call with the test's settings."""

from __future__ import annotations

import datetime as dt

import pytest

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


@pytest.fixture
def s3_settings(monkeypatch):
    """A real S3 endpoint: moto's server over HTTP on a free loopback port, with one bucket."""
    import socket
    import uuid

    import boto3
    from moto.server import ThreadedMotoServer

    from conf.schema import S3Config

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    # moto keeps its buckets per process, across servers: a bucket of its own for each test
    settings = S3Config(bucket=f"shop-recs-{uuid.uuid4().hex[:10]}", prefix="team/snapshots",
                        endpoint_url=f"http://127.0.0.1:{port}", region="us-east-1", multipart_threshold_mb=5,
                        multipart_chunk_mb=5)
    client = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name="us-east-1")
    client.create_bucket(Bucket=settings.bucket)
    yield settings
    server.stop()
