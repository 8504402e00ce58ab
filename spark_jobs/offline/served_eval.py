"""`recs eval-served`: what a running lookup server answers, scored on a temporal split's test window.

The lists a shop would get: every evaluated user of the split (relevant items in cutoff..end;
in discovery without their train items, users left with nothing skipped) is asked for as the
home page asks, GET {url}/v1/users/<id>/recommendations?k=K, and the answer is scored with
models/metrics.py exactly as `recs eval` scores its lists. Users the snapshot has no list for
get the server's popular fallback, which counts like any answer.

The requests run in Spark tasks (mapInPandas, eval.served_concurrency requests at a time per task),
so the driver holds only the figures. Each carries an X-Request-Id starting "eval-served-", which
the impression log keeps, so the traffic can be told from real visits. The server must serve a
snapshot of a run dated before the cutoff: the command refuses a later one (it has seen the test window).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from models import metrics
from spark_jobs.offline.evaluation import relevant_set, score_lists
from spark_jobs.offline.split import EvaluationError, Split

REQUEST_ID = "eval-served-"
LIST_SCHEMA = "user_id string, item_id string, rank int, source string"


def get_json(url: str, timeout: float, request_id: str = REQUEST_ID) -> dict:
    """The JSON body of a 200 answer; anything else raises EvaluationError naming the URL, status and body."""
    req = urllib.request.Request(url, headers={"X-Request-Id": request_id[:64]})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as err:
        raise EvaluationError(f"{url} answered {err.code}: {err.read().decode(errors='replace')[:300]}") from err
    except (urllib.error.URLError, OSError) as err:
        raise EvaluationError(f"no answer from {url} ({err}): is the lookup server running (`recs serve`)?") \
            from err


def snapshot_run_date(url: str, timeout: float) -> tuple[str, dt.date]:
    """(snapshot name, run date) of the snapshot the server has live."""
    info = get_json(f"{url}/v1/snapshot", timeout)
    return info["id"], dt.date.fromisoformat(info["run_date"])


def ask(url: str, k: int, timeout: float, concurrency: int):
    """A mapInPandas function: each batch's users -> the items the server answers, with rank and source."""
    def one(user_id: str) -> list[tuple]:
        path = f"/v1/users/{urllib.parse.quote(user_id, safe='')}/recommendations?k={k}"
        body = get_json(url + path, timeout, REQUEST_ID + user_id)
        return [(user_id, item["item_id"], rank, body["source"]) for rank, item in enumerate(body["items"], 1)]

    def batches(frames):
        with ThreadPoolExecutor(concurrency) as pool:
            for frame in frames:
                rows = [row for answer in pool.map(one, frame["user_id"]) for row in answer]
                yield pd.DataFrame(rows, columns=["user_id", "item_id", "rank", "source"])
    return batches


def served_lists(users: DataFrame, url: str, k: int, timeout: float, concurrency: int) -> DataFrame:
    """user_id, item_id, rank, source: the server's top-k answer for each user (asked once per user)."""
    return users.select("user_id").distinct().mapInPandas(ask(url, k, timeout, concurrency), LIST_SCHEMA)


def evaluate(spark: SparkSession, split: Split, url: str, ks: list[int], discovery: bool, timeout: float,
             concurrency: int) -> dict:
    """Metrics at each K of the server's answers for the split's evaluated users, and where the answers came from."""
    url = url.rstrip("/")
    name, run_date = snapshot_run_date(url, timeout)
    if run_date >= split.cutoff:
        raise EvaluationError(f"the live snapshot {name} is of {run_date}, on or after the cutoff {split.cutoff}: "
                              "it has seen the test window; serve a snapshot of a run before the cutoff")
    lists = served_lists(relevant_set(split, discovery), url, max(ks), timeout, concurrency).cache()  # asked once
    figures = score_lists(lists, split, ks, discovery, split.catalog.select("item_id", "category"),
                          metrics.item_novelty(split.train))
    sources = {r["source"]: r["users"] for r in lists.groupBy("source").agg(
        F.countDistinct("user_id").alias("users")).collect()}          # a handful of answer sources
    lists.unpersist()
    return {"url": url, "snapshot": name, "snapshot_run_date": run_date.isoformat(),
            "cutoff": split.cutoff.isoformat(), "end": split.end.isoformat(),
            "mode": "discovery" if discovery else "repeats", "figures": figures, "answer_sources": sources}
