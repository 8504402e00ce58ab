"""Snapshots: built (puts and SST bulk load), validated, published, rolled back, and safe when killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rocksdict import AccessType, Rdict

from export import codec, manifest, store
from export.format import COLUMN_FAMILIES, SnapshotError, rocks_options

pytestmark = pytest.mark.spark
REPO = Path(__file__).resolve().parents[2]


def read_family(folder: Path, family: str) -> dict:
    db = Rdict(str(folder / "db"), rocks_options(False), access_type=AccessType.read_only(),
               column_families={cf: rocks_options(False) for cf in COLUMN_FAMILIES})
    try:
        return {bytes(k).decode(): bytes(v) for k, v in db.get_column_family(family).items()}
    finally:
        db.close()


@pytest.mark.parametrize("sst_min_keys", [0, 10**9], ids=["sst-bulk-load", "direct-puts"])
def test_build_writes_every_family_and_a_manifest(build, sst_min_keys):
    folder = build(sst_min_keys=sst_min_keys, sst_partitions=3, list_length=4)
    assert folder.name == "2026-11-14-d1"
    man = manifest.read(folder)
    assert man["counts"] == {"user_recs": 50, "similar": 30, "fbt": 10, "popular": 2, "item_meta": 30, "meta": 1}
    assert man["metrics"] == {"ndcg@20": 0.3} and man["schema_version"] == 1
    assert all(len(f["sha256"]) == 64 for f in man["files"].values())
    users = read_family(folder, "user_recs")
    first = codec.decode_list(users["u0"])
    assert [e.item_id for e in first] == ["i0", "i1", "i2", "i3"] and first[0].score == 10.0   # cut at list_length
    assert codec.decode_meta(read_family(folder, "item_meta")["i3"]) == {"title": "item i3", "in_stock": True}
    assert store.validate(folder)["counts"]["user_recs"] == 50


def test_a_flipped_byte_fails_validation_and_publish_refuses(build, tmp_path):
    root = tmp_path / "snapshots"
    good = build("good")
    store.publish(root, good.name, keep=5)
    bad = build("bad")
    sst = sorted((bad / "db").glob("*.sst"))[0]
    data = bytearray(sst.read_bytes())
    data[len(data) // 2] ^= 0xFF
    sst.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="sha256"):
        store.validate(bad)
    with pytest.raises(SnapshotError):
        store.publish(root, bad.name, keep=5)
    assert store.current(root) == good.name


def test_a_value_that_does_not_decode_fails_validation(build):
    folder = build()
    db = Rdict(str(folder / "db"), rocks_options(False), column_families={cf: rocks_options(False)
                                                                           for cf in COLUMN_FAMILIES})
    db.get_column_family("user_recs")[b"u1"] = b"\x01\x01garbage"
    db.close()
    (folder / manifest.NAME).unlink()
    manifest.write(folder, __import__("datetime").date(2026, 11, 14), "d1",
                   {"user_recs": 50, "similar": 30, "fbt": 10, "popular": 2, "item_meta": 30, "meta": 1}, {})
    with pytest.raises(SnapshotError, match="does not decode"):
        store.validate(folder, sample=1000)


def test_publish_rollback_and_retention(build, tmp_path):
    root = tmp_path / "snapshots"
    names = []
    for n in range(5):
        names.append(build(f"d{n}").name)
        store.publish(root, names[-1], keep=3)
    assert store.current(root) == names[-1]
    assert store.snapshots(root) == sorted(names[-3:])            # retention keeps 3
    assert store.rollback(root) == {"live": names[-2], "was": names[-1]}
    assert (root / "CURRENT").read_text().strip() == names[-2]
    before = manifest.read(root / names[-2])
    assert build("d3") == root / names[-2]                        # a live snapshot is never rebuilt in place
    assert manifest.read(root / names[-2]) == before
    # retention never removes the live one (d3 now) or the one published before it (d4)
    assert store.apply_retention(root, keep=1) == [names[-3]]
    assert store.snapshots(root) == [names[-2], names[-1]]


BUILD_SCRIPT = """
import datetime as dt, sys, time
from conf import load_config
from export import builder
from spark_jobs.session import get_spark
config = load_config(env="local", environ={}, overrides={"spark.master": "local[1]",
                                                         "spark.log_dir": sys.argv[1] + "-spark-logs"})
spark = get_spark(config.spark, "kill-test")
rows = spark.range(200000).selectExpr("concat('u', id) as key", "'i1' as item_id", "1.0 as score",
                                      "'x' as reason", "1 as rank")
meta = spark.createDataFrame([("i1", "{}")], "key string, fields string")
builder.build(spark, __import__("pathlib").Path(sys.argv[1]), dt.date(2026, 11, 15), "killed",
              {cf: rows for cf in builder.LIST_FAMILIES}, meta, {}, config.snapshot)
"""


def test_a_build_killed_halfway_leaves_current_alone_and_is_never_served(build, tmp_path):
    root = tmp_path / "snapshots"
    live = build("live")
    store.publish(root, live.name, keep=5)
    proc = subprocess.Popen([sys.executable, "-c", BUILD_SCRIPT, str(root)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while not list(root.glob(".building-*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert list(root.glob(".building-*")), "the build never started"
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert store.current(root) == live.name
    assert store.snapshots(root) == [live.name]                   # the half build is not a snapshot
    assert not (root / "2026-11-15-killed").exists()
    build("next")                                                 # the next build clears the leftovers
    assert not list(root.glob(".building-*"))
    assert json.loads(json.dumps(store.validate(root / live.name)))["counts"]["user_recs"] == 50


def test_the_plain_writer_and_the_spark_builder_write_the_same_snapshot(build, inputs, tmp_path):
    """export/writer.py (no Spark) gives the same keys and decoded values as the Spark builder."""
    from export import writer
    from tests.conftest import RUN

    built = build(list_length=4)
    lists, meta = inputs
    plain_lists = {}
    for cf, rows in lists.items():
        by_key: dict[str, list] = {}
        for r in sorted(rows.collect(), key=lambda r: (r.key, r.rank)):
            by_key.setdefault(r.key, []).append((r.item_id, r.score, r.reason))
        plain_lists[cf] = by_key
    item_meta = {r.key: json.loads(r.fields) for r in meta.collect()}
    plain = writer.write(tmp_path / "plain", RUN, "d1", plain_lists, item_meta, {"run": {"digest": "d1"}}, 4,
                         metrics={"ndcg@20": 0.3})
    assert manifest.read(plain)["counts"] == manifest.read(built)["counts"]
    for cf in COLUMN_FAMILIES:
        assert read_family(plain, cf) == read_family(built, cf), cf
    assert store.validate(plain)["counts"]["user_recs"] == 50
    with pytest.raises(SnapshotError, match="no rows for column families"):
        writer.write(tmp_path / "plain", RUN, "d2", {"user_recs": {}}, {}, {}, 4)
