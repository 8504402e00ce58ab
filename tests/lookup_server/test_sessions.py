"""Session stores: in-process and the real Redis on 127.0.0.1:6379 (newest first, capped, expiring)."""

from __future__ import annotations

import time
import uuid

import pytest

from lookup_server.sessions import MemorySessions, RedisSessions


@pytest.fixture(params=["memory", "redis"])
def sessions(request):
    if request.param == "memory":
        return MemorySessions(ttl_seconds=1, max_events=3)
    return RedisSessions("redis://127.0.0.1:6379/0", ttl_seconds=1, max_events=3)


def test_newest_first_capped_and_expiring(sessions):
    sid = "t-" + uuid.uuid4().hex
    sessions.add(sid, [{"type": "view", "item_id": "a"}, {"type": "view", "item_id": "b"}])
    assert sessions.add(sid, [{"type": "view", "item_id": "c"}, {"type": "view", "item_id": "d"}]) == 3
    assert [e["item_id"] for e in sessions.recent(sid)] == ["d", "c", "b"]
    assert sessions.recent("t-nobody-" + uuid.uuid4().hex) == []
    time.sleep(2.1)
    assert sessions.recent(sid) == []
