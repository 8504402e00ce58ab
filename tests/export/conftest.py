"""S3 fixture: moto's server over HTTP."""

from __future__ import annotations

import pytest


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
