"""End to end: a real Prometheus (Debian's package) on 127.0.0.1 scrapes a real gunicorn lookup server with
monitoring/rules.yml; a snapshot made 40 hours old, whose lists cover half the catalog, fires
RecsSnapshotStale and RecsCatalogCoverageLow, seen through Prometheus's HTTP API, while
RecsDiversityDrop (diversity up, not down) stays quiet."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import time
import urllib.request

import pytest
import yaml

from conf import load_config
from export import manifest, store
from tests.lookup_server.conftest import REPO, build_snapshot, free_port, start_server

QUALITY = {"k": 20, "users": 20, "coverage": 0.5, "diversity": 0.9, "previous": {"coverage": 0.8, "diversity": 0.8}}


def stale_snapshot(root):
    folder = build_snapshot(root, "stale")
    found = manifest.read(folder)
    found["created_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=40)).isoformat(timespec="seconds")
    found["metrics"] = {**found.get("metrics", {}), "lists": QUALITY}
    (folder / manifest.NAME).write_text(json.dumps(found, indent=2, sort_keys=True))
    store.publish(root, folder.name, keep=10)
    return folder


def api(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.mark.timeout(180)
def test_a_stale_snapshot_fires_its_alert_in_a_real_prometheus(tmp_path):
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: `make test` installs Debian's prometheus package (as root)"
    root = tmp_path / "snapshots"
    stale_snapshot(root)
    config = load_config(env="local", environ={}, overrides={
        "paths.snapshots": str(root), "serve.workers": 2, "serve.impressions_dir": str(tmp_path / "logs")})
    server, served = start_server(config)
    port = free_port()
    settings = yaml.safe_load((REPO / "monitoring" / "prometheus.yml").read_text())
    settings["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    settings["rule_files"] = [str(REPO / "monitoring" / "rules.yml")]
    settings["scrape_configs"][0]["static_configs"] = [{"targets": [served.removeprefix("http://")]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(settings))
    argv = [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}"]
    prometheus = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        firing, deadline = {}, time.time() + 90
        while time.time() < deadline and not {"RecsSnapshotStale", "RecsCatalogCoverageLow"} <= set(firing):
            time.sleep(1)
            try:
                alerts = api(base, "/api/v1/alerts")["data"]["alerts"]
            except OSError:
                continue
            firing = {a["labels"]["alertname"]: a for a in alerts if a["state"] == "firing"}
        assert "RecsSnapshotStale" in firing, (firing, prometheus.stderr.read1().decode()[-2000:])
        assert float(firing["RecsSnapshotStale"]["value"]) > 39 * 3600
        assert firing["RecsCatalogCoverageLow"]["labels"]["severity"] == "ticket"
        assert float(firing["RecsCatalogCoverageLow"]["value"]) == pytest.approx(0.5)
        assert "RecsDiversityDrop" not in firing and "RecsNoSnapshotLive" not in firing
        targets = api(base, "/api/v1/targets")["data"]["activeTargets"]
        assert [t["health"] for t in targets] == ["up"]
        quality = api(base, "/api/v1/query?query=recs_snapshot_quality")["data"]["result"]
        assert {r["metric"]["metric"]: float(r["value"][1]) for r in quality} == {
            "coverage": 0.5, "diversity": 0.9, "previous_coverage": 0.8, "previous_diversity": 0.8}
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)
        server.terminate()
        server.wait(timeout=20)
