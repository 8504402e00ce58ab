"""Attacks and faults against the real server (gunicorn, 2 workers): sessions, stores, snapshots, slow clients."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from conf import load_config
from export import store
from lookup_server.commands import gunicorn_command
from tests.lookup_server.conftest import build_snapshot, get, start_server
from tests.lookup_server.test_sessions import closed_port, silent_port


def serve(root: Path, tmp_path: Path, **overrides):
    config = load_config(env="local", environ={}, overrides={
        "paths.snapshots": str(root), "serve.poll_seconds": 0.2, "serve.workers": 2,
        "serve.impressions_dir": str(tmp_path / "impressions"),
        "serve.session.sqlite_path": str(tmp_path / "sessions.sqlite3"), **overrides})
    return start_server(config)


def stop(proc) -> None:
    proc.terminate()
    proc.wait(timeout=20)


def workers_of(proc) -> list[int]:
    """The gunicorn master's worker pids (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == proc.pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


@pytest.fixture
def published(tmp_path):
    root = tmp_path / "snapshots"
    first = build_snapshot(root, "v1")
    store.publish(root, first.name, keep=10)
    return root, first


def test_sessions_belong_to_their_user_and_strangers_cannot_write_or_read_them(published, tmp_path):
    root, _ = published
    proc, base = serve(root, tmp_path)
    try:
        victim = get(base, "/v1/sessions", "POST", {"user_id": "u1"})[1]["session"]
        assert get(base, f"/v1/sessions/{victim}/events", "POST",
                   {"events": [{"type": "view", "item_id": "i20"}]})[0] == 202
        # a stranger's own token, a forged one, and the victim's token on the stranger's page are all refused
        sid, user, _ = victim.split(".")
        forged = f"{sid}.{user}.{'A' * 22}"
        status, body = get(base, f"/v1/sessions/{forged}/events", "POST",
                           {"events": [{"type": "add_to_cart", "item_id": "i1"}]})
        assert status == 403 and body["field"] == "session"
        assert get(base, f"/v1/users/u2/because-you-viewed?session={victim}")[0] == 403
        assert get(base, f"/v1/users/u2/recommendations?session={victim}")[0] == 403
        assert get(base, "/v1/users/u1/because-you-viewed?session=u1")[0] == 400          # not a token at all
        # because-you-viewed reads only the session the caller presents: never one found by user id
        for _ in range(10):
            bare = get(base, "/v1/users/u1/because-you-viewed?k=5")[1]
            assert bare["source"] != "because_you_viewed" and "session" not in bare
            own = get(base, f"/v1/users/u1/because-you-viewed?k=5&session={victim}")[1]
            assert own["source"] == "because_you_viewed" and own["session"] == "ok"
    finally:
        stop(proc)


def test_the_default_store_is_shared_by_both_workers_and_survives_a_worker_restart(published, tmp_path):
    root, _ = published
    proc, base = serve(root, tmp_path)          # serve.session.backend: the default (sqlite)
    try:
        token = get(base, "/v1/sessions", "POST")[1]["session"]
        assert get(base, f"/v1/sessions/{token}/events", "POST", {"events": [{"type": "view", "item_id": "i20"}]})[0] \
            == 202
        seen = [get(base, f"/v1/users/u1/because-you-viewed?k=5&session={token}")[1]["source"] for _ in range(60)]
        assert seen.count("because_you_viewed") == 60
        before = workers_of(proc)
        os.kill(before[0], signal.SIGKILL)                    # gunicorn starts a new worker in its place
        deadline = time.time() + 20
        while (len(workers_of(proc)) < 2 or before[0] in workers_of(proc)) and time.time() < deadline:
            time.sleep(0.1)
        seen = [get(base, f"/v1/users/u1/because-you-viewed?k=5&session={token}")[1]["source"] for _ in range(60)]
        assert seen.count("because_you_viewed") == 60
    finally:
        stop(proc)


@pytest.mark.parametrize("where", ["closed", "silent"])
def test_redis_down_serves_every_page_without_the_overlay(published, tmp_path, where):
    root, _ = published
    port, hang = silent_port() if where == "silent" else (closed_port(), threading.Event())
    proc, base = serve(root, tmp_path, **{"serve.session.backend": "redis",
                                          "serve.session.redis_url": f"redis://127.0.0.1:{port}/0"})
    try:
        token = get(base, "/v1/sessions", "POST", {"user_id": "u1"})[1]["session"]
        statuses, slowest = [], 0.0
        for path in [f"/v1/users/u1/recommendations?k=5&session={token}",
                     f"/v1/users/u1/because-you-viewed?k=5&session={token}", "/v1/users/u1/recommendations"] * 20:
            began = time.perf_counter()
            status, body = get(base, path)
            slowest = max(slowest, time.perf_counter() - began)
            statuses.append(status)
            if "session=" in path:
                assert body["session"] == "unavailable" and body["items"]
        assert statuses.count(500) == 0 and set(statuses) == {200}
        assert slowest < 1.0
        status, body = get(base, f"/v1/sessions/{token}/events", "POST",
                           {"events": [{"type": "view", "item_id": "i1"}]})
        assert status == 503 and body["error"] == "unavailable"
        ready = get(base, "/readyz")
        assert ready[0] == 200 and ready[1]["session_store"] == "down"
        text = urlopen_text(base + "/metrics")
        assert any(line.startswith("recs_session_store_errors_total") and float(line.split()[-1]) > 0
                   for line in text.splitlines())
    finally:
        hang.set()
        stop(proc)


def urlopen_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def corrupt(folder: Path) -> tuple[Path, bytes]:
    sst = sorted((folder / "db").glob("*.sst"))[0]
    original = sst.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0xFF
    sst.write_bytes(bytes(data))
    return sst, original


def test_a_worker_that_cannot_open_the_live_snapshot_serves_the_previous_one_and_heals(published, tmp_path):
    root, first = published
    second = build_snapshot(root, "v2", shift=1)
    store.publish(root, second.name, keep=10)
    proc, base = serve(root, tmp_path, **{"serve.workers": 1})
    try:
        assert get(base, "/v1/snapshot")[1]["id"] == second.name
        sst, original = corrupt(second)
        worker = workers_of(proc)[0]
        os.kill(worker, signal.SIGKILL)                       # the new worker must open the (now corrupt) live one
        deadline = time.time() + 20
        while workers_of(proc) in ([], [worker]) and time.time() < deadline:
            time.sleep(0.1)
        statuses, answers = [], []
        for _ in range(20):
            status, body = get(base, "/v1/snapshot")
            statuses.append(status)
            answers.append(body)
        assert statuses == [200] * 20
        assert answers[-1]["id"] == first.name and answers[-1]["fallback"] and answers[-1]["current"] == second.name
        metrics = urlopen_text(base + "/metrics")
        assert "recs_snapshot_fallback 1.0" in metrics and "recs_snapshot_fallbacks_total 1.0" in metrics
        sst.write_bytes(original)                              # the file is restored: the worker tries again
        deadline = time.time() + 10
        while get(base, "/v1/snapshot")[1]["id"] != second.name and time.time() < deadline:
            time.sleep(0.2)
        healed = get(base, "/v1/snapshot")[1]
        assert healed["id"] == second.name and not healed["fallback"]
    finally:
        stop(proc)


@pytest.mark.parametrize("junk", [b"\x00\x01", b"\xff\xfe not utf-8", b"../../etc\n"])
def test_a_malformed_current_changes_nothing(published, tmp_path, junk):
    root, first = published
    proc, base = serve(root, tmp_path)
    try:
        (root / "CURRENT").write_bytes(junk)
        time.sleep(0.5)
        for _ in range(20):
            assert get(base, "/readyz")[0] == 200
            status, body = get(base, "/v1/users/u1/recommendations?k=3")
            assert status == 200 and body["snapshot"] == first.name
    finally:
        stop(proc)


def raw_request(base: str, data: bytes, timeout: float = 10) -> tuple[int, bytes, bytes]:
    """(status, headers, body) of one request sent as raw bytes."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        conn.sendall(data)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


def test_slow_clients_do_not_stall_the_server(published, tmp_path):
    root, _ = published
    proc, base = serve(root, tmp_path)
    host, port = base.removeprefix("http://").split(":")
    stop_drip = threading.Event()

    def drip():
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            for byte in b"GET /v1/users/u1/recommendations HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
                if stop_drip.is_set():
                    return
                conn.sendall(bytes([byte]))
                time.sleep(0.2)
    slow = [threading.Thread(target=drip, daemon=True) for _ in range(2)]
    try:
        for t in slow:
            t.start()
        time.sleep(1.0)
        for _ in range(20):
            began = time.perf_counter()
            assert get(base, "/healthz")[0] == 200
            assert time.perf_counter() - began < 1.0
            time.sleep(0.1)
    finally:
        stop_drip.set()
        stop(proc)


def test_small_holes(published, tmp_path):
    root, _ = published
    proc, base = serve(root, tmp_path)
    try:
        assert get(base, "/v1/users/u1%0A/recommendations")[0] == 400                 # an id ending in a newline
        assert get(base, "/v1/users/u1/recommendations?k=%D9%A3")[1]["field"] == "k"   # Arabic-Indic 3
        assert get(base, "/v1/items/i1/similar?max_price=%D9%A3")[1]["field"] == "max_price"
        token = get(base, "/v1/sessions", "POST")[1]["session"]
        status, head, body = raw_request(base, (
            f"POST /v1/sessions/{token}/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n").encode())
        assert status == 400 and b"application/json" in head and body.startswith(b"{")
        status, head, body = raw_request(base, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 414 and b"application/json" in head and b'"error"' in body
        status, head, body = raw_request(base, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Big: "
                                         + b"b" * 9000 + b"\r\n\r\n")
        assert status in (400, 431) and b"application/json" in head
        before = impressions(tmp_path)
        status, head, _ = raw_request(base, b"HEAD /v1/users/u1/recommendations HTTP/1.1\r\nHost: x\r\n"
                                            b"Connection: close\r\n\r\n")
        assert status == 200
        time.sleep(1.5)                                          # impression buffers flush every second
        assert impressions(tmp_path) == before
        deadline = time.time() + 5
        while impressions(tmp_path) == before and time.time() < deadline:
            get(base, "/v1/users/u1/recommendations")
            time.sleep(1.1)
        assert impressions(tmp_path) > before                  # a GET is logged (the check above could fail)
    finally:
        stop(proc)


def impressions(tmp_path: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in (tmp_path / "impressions").rglob("impressions-*.jsonl"))


def test_recs_serve_writes_no_config_file_and_its_workers_share_one_secret(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    tempfile.tempdir = None
    try:
        config = load_config(env="local", environ={}, overrides={"serve.session.redis_url":
                                                                 "redis://:hunter2@127.0.0.1:6379/0"})
        argv, env = gunicorn_command(config, 0)
        assert list((tmp_path / "tmp").iterdir()) == []
        assert not any("hunter2" in str(a) for a in argv)
        again = gunicorn_command(config, 0)[1]
        assert env["RECS_EFFECTIVE_CONFIG"] != again["RECS_EFFECTIVE_CONFIG"]     # a new random secret per start
    finally:
        tempfile.tempdir = None


def test_a_killed_recs_serve_stops_its_gunicorn(published, tmp_path):
    """SIGTERM to `recs serve` (a `kill`, a process manager) must not leave gunicorn serving on its own."""
    import subprocess
    import sys

    from tests.lookup_server.conftest import free_port

    root, _ = published
    port = free_port()
    env = {**os.environ, "RECS_PATHS__SNAPSHOTS": str(root), "RECS_SERVE__IMPRESSIONS_DIR": str(tmp_path / "imp"),
           "RECS_SERVE__SESSION__SQLITE_PATH": str(tmp_path / "s.sqlite3")}
    proc = subprocess.Popen([sys.executable, "recs.py", "serve", "--port", str(port)], cwd=Path(__file__).parents[2],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if get(base, "/healthz")[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    assert workers_of(proc), "gunicorn did not start under recs serve"
    proc.terminate()
    proc.wait(timeout=30)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            get(base, "/healthz")
            time.sleep(0.2)
        except OSError:
            break
    else:
        raise AssertionError("gunicorn kept serving after recs serve was terminated")
