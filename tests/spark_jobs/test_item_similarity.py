"""Item-item neighbours: cosine over contexts, shrinkage, minimum support, top-K, history cap."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from spark_jobs import item_similarity
from tests.helpers import BASE_TIME, ev, events_frame

pytestmark = pytest.mark.spark
CHUNK = 4      # item products per sparse product: a few contexts each, so pairs are summed across chunks


def history(spark, users: dict[str, list[str]]):
    """View events per user, one minute apart in list order, no sessions."""
    rows = [ev(f"{u}-{n}", u, item, "view", BASE_TIME + dt.timedelta(minutes=n))
            for u, items in users.items() for n, item in enumerate(items)]
    return events_frame(spark, rows)


def neighbours(df):
    return {(r.item_id, r.neighbour_id): r for r in df.collect()}


def test_cosine_with_shrinkage(spark, make_config):
    settings = make_config(similarity__min_support=1, similarity__shrink=1.0).similarity
    users = {"u1": ["a", "b"], "u2": ["a", "b"], "u3": ["a", "c"], "u4": ["b"]}
    got = neighbours(item_similarity.transform(history(spark, users), settings, CHUNK))
    # n(a)=3, n(b)=3, n(c)=1; support(a,b)=2, support(a,c)=1
    assert got[("a", "b")].score == pytest.approx(2 / math.sqrt(9) * 2 / 3)
    assert got[("a", "c")].score == pytest.approx(1 / math.sqrt(3) * 1 / 2)
    assert got[("a", "b")].support == 2 and got[("b", "a")].score == got[("a", "b")].score
    assert ("b", "c") not in got


def test_sessions_are_contexts_too(spark, make_config):
    settings = make_config(similarity__min_support=1, similarity__shrink=0.0).similarity
    rows = [ev("1", "u1", "a", "view", BASE_TIME, session="s1"), ev("2", "u1", "b", "view", BASE_TIME, session="s1"),
            ev("3", "u1", "c", "view", BASE_TIME, session="s2")]
    got = neighbours(item_similarity.transform(events_frame(spark, rows), settings, CHUNK))
    # contexts: u1 {a,b,c}, s1 {a,b}, s2 {c}: (a,b) twice, (a,c) once
    assert got[("a", "b")].support == 2 and got[("a", "c")].support == 1
    assert got[("a", "b")].score > got[("a", "c")].score


def test_min_support_top_k_and_history_cap(spark, make_config):
    settings = make_config(similarity__min_support=2, similarity__shrink=0.0, similarity__top_k=1,
                           similarity__max_history=2).similarity
    users = {"u1": ["a", "b", "c"], "u2": ["a", "b", "c"], "u3": ["x", "a", "b"]}
    got = neighbours(item_similarity.transform(history(spark, users), settings, CHUNK))
    # the cap keeps each user's 2 most recent items: u1, u2 {b,c}; u3 {a,b}
    assert set(got) == {("b", "c"), ("c", "b")}
    assert all(r.rank == 1 for r in got.values())
