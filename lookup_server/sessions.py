"""Session stores for the overlay: recent events per session, capped and expiring.

memory: a dict per worker process (a session sticks to nothing across workers: use
redis when there is more than one worker and sessions matter). redis: one list per
session, newest first, LTRIM to serve.session.max_events, EXPIRE ttl_seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict


class MemorySessions:
    def __init__(self, ttl_seconds: int, max_events: int, max_sessions: int = 100_000):
        self.ttl, self.max_events, self.max_sessions = ttl_seconds, max_events, max_sessions
        self.data: OrderedDict[str, tuple[float, list[dict]]] = OrderedDict()
        self.lock = threading.Lock()

    def add(self, session_id: str, events: list[dict]) -> int:
        with self.lock:
            _, old = self.data.pop(session_id, (0.0, []))
            kept = (list(reversed(events)) + old)[: self.max_events]
            self.data[session_id] = (time.time() + self.ttl, kept)
            while len(self.data) > self.max_sessions:
                self.data.popitem(last=False)
            return len(kept)

    def recent(self, session_id: str) -> list[dict]:
        with self.lock:
            expires, events = self.data.get(session_id, (0.0, []))
            if expires < time.time():
                self.data.pop(session_id, None)
                return []
            return list(events)


class RedisSessions:
    def __init__(self, url: str, ttl_seconds: int, max_events: int):
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=0.05, socket_connect_timeout=0.2)
        self.ttl, self.max_events = ttl_seconds, max_events

    @staticmethod
    def key(session_id: str) -> str:
        return f"recs:session:{session_id}"

    def add(self, session_id: str, events: list[dict]) -> int:
        key = self.key(session_id)
        pipe = self.client.pipeline()
        pipe.lpush(key, *[json.dumps(e, separators=(",", ":")) for e in events])
        pipe.ltrim(key, 0, self.max_events - 1)
        pipe.expire(key, self.ttl)
        pipe.llen(key)
        return int(pipe.execute()[-1])

    def recent(self, session_id: str) -> list[dict]:
        return [json.loads(raw) for raw in self.client.lrange(self.key(session_id), 0, self.max_events - 1)]


def make_sessions(settings):
    if settings.backend == "redis":
        return RedisSessions(settings.redis_url, settings.ttl_seconds, settings.max_events)
    return MemorySessions(settings.ttl_seconds, settings.max_events)
