"""A real lookup server: gunicorn (2 workers, `recs serve`'s command) on a free loopback port,
answering from a snapshot written by the format layer's plain writer (no Spark), sessions in the real Redis."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conf import load_config
from export import writer
from export.format import popular_key

RUN = dt.date(2026, 11, 14)

REPO = Path(__file__).resolve().parents[2]
ITEMS = [f"i{n}" for n in range(30)]
OUT_OF_STOCK = "i5"


def item_fields(n: int) -> str:
    return json.dumps({"title": f"item {n}", "price": float(n), "in_stock": f"i{n}" != OUT_OF_STOCK,
                       "category": "Home > Mugs" if n % 2 == 0 else "Toys > Cars"})


def build_snapshot(root: Path, digest: str, shift: int = 0) -> Path:
    """Users u0..u19, each item i0..i29 with neighbours; `shift` changes the lists between versions."""
    def lists(keys, per_key, reason, skip_self=False):
        found = {}
        for k, key in enumerate(keys):
            entries = [(ITEMS[(k * 3 + r + shift) % len(ITEMS)], float(per_key - r), reason) for r in range(per_key)]
            found[key] = [e for e in entries if not (skip_self and e[0] == key)]
        return found

    families = {"user_recs": lists([f"u{n}" for n in range(20)], 12, "als"),
                "similar": lists(ITEMS, 6, "also_viewed", skip_self=True),
                "fbt": lists(ITEMS[:10], 4, "also_bought", skip_self=True),
                "popular": lists([popular_key("recent", "all"), popular_key("trending", "all"),
                                  popular_key("recent", "Toys")], 15, "recent")}
    meta = {f"i{n}": json.loads(item_fields(n)) for n in range(30)}
    settings = load_config(env="local", environ={}).snapshot
    return writer.write(root, RUN, digest, families, meta, {"run": {"digest": digest}}, settings.list_length)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(base: str, path: str, method: str = "GET", body=None):
    """(status, JSON) of one request."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def isolated(config):
    """`config` with the server's files out of the checkout's var/: impressions (a later ship_logs would ship the
    tests' logs) and the SQLite session store (shared with the other test process and with `make demo`)."""
    import atexit
    import shutil
    import tempfile

    def in_checkout(path: str) -> bool:
        return (REPO / path).resolve().is_relative_to(REPO)

    def folder(prefix: str) -> str:
        """A tmp folder removed when the test process ends (the servers using it are stopped by then)."""
        path = tempfile.mkdtemp(prefix=prefix)
        atexit.register(shutil.rmtree, path, True)
        return path

    config = config.model_copy(deep=True)
    if in_checkout(config.serve.impressions_dir):
        config.serve.impressions_dir = folder("recs-test-logs-")
    if in_checkout(config.serve.session.sqlite_path):
        config.serve.session.sqlite_path = str(Path(folder("recs-test-sessions-")) / "s.sqlite3")
    return config


def start_server(config) -> tuple[subprocess.Popen, str]:
    """gunicorn as `recs serve` runs it, on a free loopback port; (process, base URL) once /readyz answers 200."""
    from lookup_server.commands import gunicorn_command

    config = isolated(config)
    port = free_port()
    argv, env = gunicorn_command(config, port)
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if get(base, "/readyz")[0] == 200:
                return proc, base
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gunicorn did not come up: " + proc.stderr.read().decode()[-2000:])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from export import store

    root = tmp_path_factory.mktemp("served") / "snapshots"
    first = build_snapshot(root, "v1")
    store.publish(root, first.name, keep=10)
    config = load_config(env="local", environ={}, overrides={
        "paths.snapshots": str(root), "serve.poll_seconds": 0.2, "serve.workers": 2,
        "serve.session.backend": "redis"})
    proc, base = start_server(config)
    yield {"base": base, "root": root, "first": first.name, "proc": proc}
    proc.terminate()
    proc.wait(timeout=20)
