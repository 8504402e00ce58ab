"""Session stores (in-process, SQLite, the real Redis on 127.0.0.1:6379), signed tokens, and degrading stores."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import pytest

from conf.schema import SessionConfig
from lookup_server.sessions import (
    BadToken,
    Guarded,
    MemorySessions,
    RedisSessions,
    SessionStoreDown,
    SqliteSessions,
    Tokens,
    make_sessions,
)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def sessions(request, tmp_path):
    if request.param == "memory":
        return MemorySessions(ttl_seconds=1, max_events=3, max_sessions=100)
    if request.param == "sqlite":
        return SqliteSessions(str(tmp_path / "s.sqlite3"), ttl_seconds=1, max_events=3, max_sessions=100,
                              timeout_ms=200)
    return RedisSessions("redis://127.0.0.1:6379/0", ttl_seconds=1, max_events=3, timeout_ms=200)


def test_newest_first_capped_and_expiring(sessions):
    sid = "t-" + uuid.uuid4().hex
    sessions.add(sid, [{"type": "view", "item_id": "a"}, {"type": "view", "item_id": "b"}])
    assert sessions.add(sid, [{"type": "view", "item_id": "c"}, {"type": "view", "item_id": "d"}]) == 3
    assert [e["item_id"] for e in sessions.recent(sid)] == ["d", "c", "b"]
    assert sessions.recent("t-nobody-" + uuid.uuid4().hex) == []
    time.sleep(2.1)
    assert sessions.recent(sid) == []


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_session_count_is_capped_oldest_first(kind, tmp_path):
    store = (MemorySessions(60, 5, max_sessions=10) if kind == "memory" else
             SqliteSessions(str(tmp_path / "s.sqlite3"), 60, 5, max_sessions=10, timeout_ms=200))
    for n in range(150):
        store.add(f"s{n}", [{"type": "view", "item_id": "a"}])
        time.sleep(0.001)
    if kind == "sqlite":
        store.trim(store.connection(), time.time())
        kept = store.connection().execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    else:
        kept = len(store.data)
    assert kept == 10
    assert store.recent("s149") and store.recent("s0") == []


def test_the_sqlite_store_is_shared_by_processes(tmp_path):
    """What one worker (process) wrote, another reads: the file, not the process, holds the sessions."""
    import subprocess
    import sys

    path = tmp_path / "shared.sqlite3"
    writer = ("from lookup_server.sessions import SqliteSessions\n"
              f"SqliteSessions({str(path)!r}, 60, 5, 100, 200).add('abc', [{{'type': 'view', 'item_id': 'x'}}])\n")
    subprocess.run([sys.executable, "-c", writer], check=True, timeout=60)
    assert SqliteSessions(str(path), 60, 5, 100, 200).recent("abc") == [{"type": "view", "item_id": "x"}]


def test_tokens_are_signed_bound_to_their_user_and_refused_when_forged():
    tokens = Tokens("secret-one")
    anonymous, alice = tokens.issue(), tokens.issue("alice")
    assert tokens.check(anonymous) and tokens.check(anonymous, "anyone")
    assert tokens.check(alice, "alice") == tokens.check(alice)
    with pytest.raises(BadToken, match="another user"):
        tokens.check(alice, "bob")
    with pytest.raises(BadToken, match="did not issue|this server issued") as forged:
        Tokens("secret-two").check(alice)
    assert not forged.value.malformed
    sid, user, sig = alice.split(".")
    with pytest.raises(BadToken):
        tokens.check(f"{sid}.{Tokens('x').issue('bob').split('.')[1]}.{sig}")      # the user swapped
    with pytest.raises(BadToken) as malformed:
        tokens.check("s1")
    assert malformed.value.malformed


def silent_port():
    """A socket that accepts connections and never answers (a hung Redis)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue
    threading.Thread(target=accept, daemon=True).start()
    return server.getsockname()[1], stop


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("where", ["closed", "silent"])
def test_a_dead_redis_degrades_quickly_and_is_skipped_after_a_failure(where):
    port, stop = silent_port() if where == "silent" else (closed_port(), threading.Event())
    try:
        guarded = make_sessions(SessionConfig(backend="redis", redis_url=f"redis://127.0.0.1:{port}/0",
                                              timeout_ms=50, retry_seconds=30))
        began = time.perf_counter()
        assert guarded.recent("abc") is None                          # no context, no exception
        first = time.perf_counter() - began
        began = time.perf_counter()
        for _ in range(100):
            assert guarded.recent("abc") is None
        skipped = time.perf_counter() - began
        assert first < 0.5 and skipped < 0.05                          # the store is not asked again for a while
        with pytest.raises(SessionStoreDown):
            guarded.add("abc", [{"type": "view", "item_id": "a"}])
        assert guarded.state() == "down"
    finally:
        stop.set()


def test_a_store_that_comes_back_is_used_again(tmp_path):
    blocker = tmp_path / "sessions"
    blocker.write_text("a file where the store's folder should be")      # the store cannot open its file
    guarded = Guarded(SqliteSessions(str(blocker / "s.sqlite3"), 60, 5, 100, 200), "sqlite", retry_seconds=0.2)
    assert guarded.recent("a") is None and guarded.state() == "down"
    blocker.unlink()                                                     # the disk is back
    time.sleep(0.3)
    assert guarded.recent("a") == [] and guarded.state() == "ok"
    assert guarded.add("a", [{"type": "view", "item_id": "x"}]) == 1
