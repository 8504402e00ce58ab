"""S3 export against a real endpoint (moto's server over HTTP): push, pull, verify, interrupted pushes."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from export import manifest, s3, store

REPO = Path(__file__).resolve().parents[2]


def keys(settings) -> list[str]:
    client = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name="us-east-1")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket, Prefix=settings.prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@pytest.mark.spark
def test_push_then_pull_on_another_host_verifies_and_activates(build, s3_settings, tmp_path):
    folder = build("pushed")
    store.publish(folder.parent, folder.name, keep=5)
    result = s3.push(folder, s3_settings)
    n_files = len(manifest.read(folder)["files"])
    assert result["uploaded"] == n_files and result["already_there"] == 0
    stored = keys(s3_settings)
    assert f"team/snapshots/{folder.name}/MANIFEST.json" in stored and len(stored) == n_files + 1
    assert s3.push(folder, s3_settings)["already_there"] == n_files          # nothing sent twice

    other = tmp_path / "other-host"
    pulled = s3.pull(other, s3_settings)
    assert pulled["name"] == folder.name and pulled["downloaded"] == n_files
    store.publish(other, folder.name, keep=5)
    assert store.current(other) == folder.name
    assert store.validate(other / folder.name)["counts"] == manifest.read(folder)["counts"]


def fake_snapshot(root: Path, files: int, size: int) -> Path:
    """A snapshot-shaped folder of random files with a real manifest (enough for push and pull)."""
    folder = root / "2026-11-15-big"
    (folder / "db").mkdir(parents=True)
    for n in range(files):
        (folder / "db" / f"{n:06d}.sst").write_bytes(os.urandom(size))
    manifest.write(folder, dt.date(2026, 11, 15), "big", {}, {})
    return folder


PUSH_SCRIPT = """
import sys
from pathlib import Path
from conf.schema import S3Config
from export import s3
s3.push(Path(sys.argv[1]), S3Config(bucket=sys.argv[3], prefix="team/snapshots", endpoint_url=sys.argv[2],
                                    region="us-east-1", multipart_threshold_mb=5, multipart_chunk_mb=5))
"""


def test_a_push_killed_halfway_leaves_no_manifest_and_the_next_push_completes_it(s3_settings, tmp_path):
    folder = fake_snapshot(tmp_path / "snapshots", files=40, size=3 * 1024 * 1024)
    proc = subprocess.Popen([sys.executable, "-c", PUSH_SCRIPT, str(folder), s3_settings.endpoint_url,
                             s3_settings.bucket], cwd=REPO,
                            env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 60
    while len(keys(s3_settings)) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = keys(s3_settings)
    assert 3 <= len(partial) < 40, f"expected a push interrupted halfway, saw {len(partial)} objects"
    assert not any(k.endswith("MANIFEST.json") for k in partial), partial
    assert s3.complete_snapshots(s3_settings) == []                        # readers see nothing
    with pytest.raises(s3.ExportError, match="incomplete"):
        s3.pull(tmp_path / "reader", s3_settings, folder.name)

    again = s3.push(folder, s3_settings)
    assert again["already_there"] >= 2 and again["already_there"] + again["uploaded"] == 40
    assert s3.complete_snapshots(s3_settings) == [folder.name]
    pulled = s3.pull(tmp_path / "reader", s3_settings)
    assert pulled["downloaded"] == 40
    assert store.verify_files(tmp_path / "reader" / folder.name)["digest"] == "big"


def test_a_corrupt_object_is_caught_on_pull_and_nothing_is_activated(s3_settings, tmp_path):
    folder = fake_snapshot(tmp_path / "snapshots", files=3, size=1000)
    s3.push(folder, s3_settings)
    client = boto3.client("s3", endpoint_url=s3_settings.endpoint_url, region_name="us-east-1")
    client.put_object(Bucket=s3_settings.bucket, Key=f"team/snapshots/{folder.name}/db/000001.sst",
                      Body=os.urandom(1000))
    with pytest.raises(s3.ExportError, match="wrong sha256"):
        s3.pull(tmp_path / "reader", s3_settings)
    assert not (tmp_path / "reader" / folder.name).exists()
    assert not list((tmp_path / "reader").glob(".building-*"))


def test_no_bucket_says_which_setting_to_set(tmp_path):
    from conf.schema import S3Config

    with pytest.raises(s3.ExportError, match="s3.bucket"):
        s3.client(S3Config())


@pytest.mark.parametrize("hostile", ["../../escaped.txt", "/tmp/recs-absolute-escape.txt", "db/../../../up.txt",
                                     "db\\..\\..\\win.txt"])
def test_a_hostile_manifest_writes_nothing_outside_the_target_and_leaves_nothing_behind(s3_settings, tmp_path,
                                                                                        hostile):
    """A manifest that names files outside the snapshot folder is refused before any download."""
    import hashlib
    import json

    client = boto3.client("s3", endpoint_url=s3_settings.endpoint_url, region_name="us-east-1")
    name = "2026-11-15-evil"
    body = b"owned"
    files = {"db/000001.sst": {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)},
             hostile: {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}}
    for rel in files:
        client.put_object(Bucket=s3_settings.bucket, Key=f"{s3_settings.prefix}/{name}/{rel}", Body=body)
    client.put_object(Bucket=s3_settings.bucket, Key=f"{s3_settings.prefix}/{name}/MANIFEST.json",
                      Body=json.dumps({"schema_version": 1, "files": files}).encode())
    target = tmp_path / "host" / "snapshots"
    before = {p for p in tmp_path.rglob("*")}
    absolute = Path("/tmp/recs-absolute-escape.txt")
    absolute.unlink(missing_ok=True)
    with pytest.raises(s3.ExportError, match="not a file inside the snapshot"):
        s3.pull(target, s3_settings, name)
    assert not absolute.exists()
    left = {p for p in tmp_path.rglob("*")} - before
    assert [p for p in left if not p.is_dir()] == []                         # no file written anywhere
    assert not list(target.glob(".building-*")) and not (target / name).exists()
    with pytest.raises(s3.ExportError, match="not a snapshot name"):
        s3.pull(target, s3_settings, "../outside")
