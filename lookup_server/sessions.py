"""Visitor sessions for the overlay: signed session tokens, and the stores that keep each session's events.

Tokens. A session is opened with `POST /v1/sessions` (optionally for a user id). The server
answers with a token `<sid>.<user>.<signature>`: a random 128-bit id, the user id (base64url;
empty for an anonymous visitor) and an HMAC-SHA256 over both with `serve.session.secret`. Only
a token the server signed is accepted to post events or to read a session, and a token bound to
a user is only read on that user's pages: nobody can write into, or read, a session they were
not given. The secret comes from the environment (RECS_SERVE__SESSION__SECRET), never a file;
without one, `recs serve` makes a random secret per start, shared by its workers (tokens then
end with the server).

Stores (serve.session.backend), keyed by the random id; each keeps the newest max_events
events of a session for ttl_seconds after its last event:
- sqlite (default): one SQLite file (WAL) on the host, shared by every worker and kept across
  worker restarts; at most max_sessions sessions (the oldest expire first);
- redis: one list per session in Redis, for several hosts;
- memory: a dict per worker process (one worker, tests); at most max_sessions sessions.
A failing store never fails a page: Guarded turns its errors into "no session context"
(the answer says `"session": "unavailable"`), counts them, and stops calling the store for
retry_seconds after a failure so that a dead Redis costs no time per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path

import redis

from lookup_server import metrics

log = logging.getLogger(__name__)
TOKEN = re.compile(r"([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{0,400})\.([A-Za-z0-9_-]{22})", re.ASCII)


class SessionStoreDown(RuntimeError):
    """The session store did not answer; the request goes on without session context."""


class BadToken(ValueError):
    """A session token the server did not sign, or one that belongs to another user (403); `malformed`: not
    shaped like a token at all (400)."""

    def __init__(self, message: str, malformed: bool = False):
        super().__init__(message)
        self.malformed = malformed


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    """Issue and check signed session tokens."""

    def __init__(self, secret: str):
        self.key = secret.encode()

    def _sign(self, sid: str, user: str) -> str:
        return _b64(hmac.new(self.key, f"{sid}|{user}".encode(), hashlib.sha256).digest()[:16])

    def issue(self, user_id: str | None = None) -> str:
        sid = _b64(secrets.token_bytes(16))
        user = _b64((user_id or "").encode())
        return f"{sid}.{user}.{self._sign(sid, user)}"

    def check(self, token: str, user_id: str | None = None) -> str:
        """The session's store key for a valid token; BadToken when it is forged or names another user.

        With user_id (a user's page), the token must be anonymous or bound to that user."""
        found = TOKEN.fullmatch(token or "")
        if not found:
            raise BadToken("not a session token: open one with POST /v1/sessions", malformed=True)
        sid, user, signature = found.groups()
        if not hmac.compare_digest(signature, self._sign(sid, user)):
            raise BadToken("not a session token this server issued: open one with POST /v1/sessions")
        owner = _unb64(user).decode("utf-8", "replace")
        if user_id is not None and owner and owner != user_id:
            raise BadToken("the session belongs to another user")
        return sid


class MemorySessions:
    def __init__(self, ttl_seconds: int, max_events: int, max_sessions: int):
        self.ttl, self.max_events, self.max_sessions = ttl_seconds, max_events, max_sessions
        self.data: OrderedDict[str, tuple[float, list[dict]]] = OrderedDict()
        self.lock = threading.Lock()

    def add(self, sid: str, events: list[dict]) -> int:
        with self.lock:
            _, old = self.data.pop(sid, (0.0, []))
            kept = (list(reversed(events)) + old)[: self.max_events]
            self.data[sid] = (time.time() + self.ttl, kept)
            while len(self.data) > self.max_sessions:
                self.data.popitem(last=False)
            return len(kept)

    def recent(self, sid: str) -> list[dict]:
        with self.lock:
            expires, events = self.data.get(sid, (0.0, []))
            if expires < time.time():
                self.data.pop(sid, None)
                return []
            return list(events)

    def ping(self) -> None:
        return None


class SqliteSessions:
    """One row per session (its events as JSON, newest first) in a WAL SQLite file shared by the workers."""

    SCHEMA = "CREATE TABLE IF NOT EXISTS sessions (sid TEXT PRIMARY KEY, expires REAL NOT NULL, events TEXT NOT NULL)"

    def __init__(self, path: str, ttl_seconds: int, max_events: int, max_sessions: int, timeout_ms: int):
        self.path, self.ttl, self.max_events, self.max_sessions = Path(path), ttl_seconds, max_events, max_sessions
        self.timeout = timeout_ms / 1000
        self.local = threading.local()
        self.writes = 0

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None or getattr(self.local, "pid", None) != os.getpid():   # one per thread, opened after fork
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(self.SCHEMA)
            conn.execute("CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires)")
            self.local.conn, self.local.pid = conn, os.getpid()
        return conn

    def add(self, sid: str, events: list[dict]) -> int:
        conn, now = self.connection(), time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT expires, events FROM sessions WHERE sid = ?", (sid,)).fetchone()
            old = json.loads(row[1]) if row and row[0] >= now else []
            kept = (list(reversed(events)) + old)[: self.max_events]
            conn.execute("INSERT OR REPLACE INTO sessions (sid, expires, events) VALUES (?, ?, ?)",
                         (sid, now + self.ttl, json.dumps(kept, separators=(",", ":"))))
            self.writes += 1
            if self.writes % 100 == 1:
                self.trim(conn, now)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(kept)

    def trim(self, conn: sqlite3.Connection, now: float) -> None:
        """Drop expired sessions, then the oldest beyond max_sessions."""
        conn.execute("DELETE FROM sessions WHERE expires < ?", (now,))
        excess = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] - self.max_sessions
        if excess > 0:
            conn.execute("DELETE FROM sessions WHERE sid IN (SELECT sid FROM sessions ORDER BY expires LIMIT ?)",
                         (excess,))

    def recent(self, sid: str) -> list[dict]:
        row = self.connection().execute("SELECT events FROM sessions WHERE sid = ? AND expires >= ?",
                                        (sid, time.time())).fetchone()
        return json.loads(row[0]) if row else []

    def ping(self) -> None:
        self.connection().execute("SELECT 1").fetchone()


class RedisSessions:
    def __init__(self, url: str, ttl_seconds: int, max_events: int, timeout_ms: int):
        self.client = redis.Redis.from_url(url, socket_timeout=timeout_ms / 1000,
                                           socket_connect_timeout=timeout_ms / 1000, retry_on_timeout=False)
        self.ttl, self.max_events = ttl_seconds, max_events

    @staticmethod
    def key(sid: str) -> str:
        return f"recs:session:{sid}"

    def add(self, sid: str, events: list[dict]) -> int:
        key = self.key(sid)
        pipe = self.client.pipeline()
        pipe.lpush(key, *[json.dumps(e, separators=(",", ":")) for e in events])
        pipe.ltrim(key, 0, self.max_events - 1)
        pipe.expire(key, self.ttl)
        pipe.llen(key)
        return int(pipe.execute()[-1])

    def recent(self, sid: str) -> list[dict]:
        return [json.loads(raw) for raw in self.client.lrange(self.key(sid), 0, self.max_events - 1)]

    def ping(self) -> None:
        self.client.ping()


STORE_ERRORS = (redis.RedisError, sqlite3.Error, OSError, ValueError)


class Guarded:
    """A store whose failures degrade: counted, logged once per outage, skipped for retry_seconds."""

    def __init__(self, store, backend: str, retry_seconds: float):
        self.store, self.backend, self.retry_seconds = store, backend, retry_seconds
        self.down_until = 0.0

    def _call(self, operation: str, fn, *args):
        if time.monotonic() < self.down_until:
            metrics.count_session_error(operation)
            raise SessionStoreDown(f"the {self.backend} session store is unavailable")
        try:
            found = fn(*args)
        except STORE_ERRORS as err:
            if self.down_until == 0.0:
                log.error("the %s session store failed (%s): answering without session context", self.backend, err)
            self.down_until = time.monotonic() + self.retry_seconds
            metrics.count_session_error(operation)
            raise SessionStoreDown(f"the {self.backend} session store is unavailable") from None
        self.down_until = 0.0          # answered: the outage, if any, is over
        return found

    def add(self, sid: str, events: list[dict]) -> int:
        return self._call("add", self.store.add, sid, events)

    def recent(self, sid: str) -> list[dict] | None:
        """The session's events, or None when the store is down (the answer goes on without them)."""
        try:
            return self._call("recent", self.store.recent, sid)
        except SessionStoreDown:
            return None

    def state(self) -> str:
        """"ok" or "down" (for /readyz; never fails the page)."""
        try:
            self._call("ping", self.store.ping)
        except SessionStoreDown:
            return "down"
        return "ok"


def make_sessions(settings) -> Guarded:
    if settings.backend == "redis":
        store = RedisSessions(settings.redis_url, settings.ttl_seconds, settings.max_events, settings.timeout_ms)
    elif settings.backend == "sqlite":
        store = SqliteSessions(settings.sqlite_path, settings.ttl_seconds, settings.max_events,
                               settings.max_sessions, settings.timeout_ms)
    else:
        store = MemorySessions(settings.ttl_seconds, settings.max_events, settings.max_sessions)
    return Guarded(store, settings.backend, settings.retry_seconds)


def make_tokens(settings) -> Tokens:
    secret = settings.secret.get_secret_value() if settings.secret else None
    if not secret:
        log.warning("serve.session.secret is not set: a random one for this process (set "
                    "RECS_SERVE__SESSION__SECRET so that tokens outlive it and every worker accepts them)")
        secret = secrets.token_hex(32)
    return Tokens(secret)
