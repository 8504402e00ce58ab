"""faiss retrieval of the top-N items for every user from ALS factors.

The item index is built on the driver (items, not users: a catalog of 1M items at 128
factors is 512 MB) — exact inner product up to ann.exact_max_items, ann.large_index above
(norm-pruned exact search by default, or IVF / HNSW) — then serialized and broadcast; users
are scored partition by partition on the executors (mapInPandas), each partition
deserializing the index once. Items the user already had are excluded when asked, by
searching deeper and filtering.
"""

from __future__ import annotations

import pickle

import faiss
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from conf.schema import AnnConfig

LIST_DDL = "user_id string, item_id string, score float, rank int"
_INDEX_CACHE: dict[int, tuple[bytes, object, np.ndarray, dict]] = {}


class NormPruned:
    """Exact inner-product search that scans the largest-norm items first (ann.large_index "pruned").

    ALS item factors' norms are very skewed (a few items carry most of the length), so a user's
    best items are nearly always among the ann.prune_share largest-norm items. For each query the
    best k of those are the exact top k whenever the k-th score is at least |q| x the largest norm
    left out (Cauchy-Schwarz: no item left out can score more); the queries where that does not
    hold are searched over every item. Exact on any data; fast when most queries pass the bound.
    """

    def __init__(self, vectors: np.ndarray, share: float):
        norms = np.linalg.norm(vectors, axis=1)
        order = np.argsort(-norms, kind="stable")
        size = min(len(vectors), max(1, int(np.ceil(share * len(vectors)))))
        self.positions = order[:size]
        self.tail_norm = float(norms[order[size]]) if size < len(vectors) else 0.0
        self.head, self.full = faiss.IndexFlatIP(vectors.shape[1]), faiss.IndexFlatIP(vectors.shape[1])
        self.head.add(vectors[self.positions])
        self.full.add(vectors)
        self.ntotal = len(vectors)
        self.searched_all = 0          # queries that needed the full scan (for the benchmark)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        found = np.full((len(queries), k), -1, dtype=np.int64)
        depth = min(k, self.head.ntotal)
        head_scores, head_found = self.head.search(queries, depth)
        scores[:, :depth] = head_scores
        found[:, :depth] = np.where(head_found >= 0, self.positions[np.maximum(head_found, 0)], -1)
        bound = np.linalg.norm(queries, axis=1) * self.tail_norm
        redo = (scores[:, k - 1] < bound) if self.tail_norm > 0 else np.zeros(len(queries), dtype=bool)
        if redo.any():
            scores[redo], found[redo] = self.full.search(np.ascontiguousarray(queries[redo]), k)
        self.searched_all += int(redo.sum())
        return scores, found

    def __getstate__(self) -> dict:
        return {"positions": self.positions, "tail_norm": self.tail_norm, "ntotal": self.ntotal,
                "head": faiss.serialize_index(self.head), "full": faiss.serialize_index(self.full)}

    def __setstate__(self, state: dict) -> None:
        self.positions, self.tail_norm, self.ntotal = state["positions"], state["tail_norm"], state["ntotal"]
        self.head, self.full = faiss.deserialize_index(state["head"]), faiss.deserialize_index(state["full"])
        self.searched_all = 0


def serialize(index) -> bytes:
    """The index as bytes to broadcast (a faiss index, or a NormPruned)."""
    if isinstance(index, NormPruned):
        return b"P" + pickle.dumps(index)
    return b"F" + faiss.serialize_index(index).tobytes()


def deserialize(raw: bytes):
    if raw[:1] == b"P":
        return pickle.loads(raw[1:])
    return faiss.deserialize_index(np.frombuffer(raw, dtype=np.uint8, offset=1))


def build_index(vectors: np.ndarray, settings: AnnConfig):
    """Exact inner product up to ann.exact_max_items items; ann.large_index above.

    "pruned" (default) is exact too (NormPruned): measured on ALS factors of 500,000 items it
    ran several times faster than the flat scan (README, Benchmarks). IVF (k-means cells,
    ann.ivf_probe of them scanned per query) and an inner-product HNSW graph are faster still
    but recalled about half and 13% of the exact top 100 there (the norms' skew); see
    spark_jobs/bench_models.py.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if len(vectors) <= settings.exact_max_items:
        index = faiss.IndexFlatIP(dim)
    elif settings.large_index == "pruned":
        return NormPruned(vectors, settings.prune_share)
    elif settings.large_index == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.ef_construction
        index.hnsw.efSearch = settings.ef_search
    else:
        lists = settings.ivf_lists or max(1, min(int(4 * np.sqrt(len(vectors))), len(vectors) // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = min(settings.ivf_probe, lists)
    index.add(vectors)
    return index


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """faiss search clipped to the index size (scores, positions; -1 where fewer exist)."""
    k = max(1, min(k, index.ntotal))
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)


def collect_items(item_factors: DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(item ids, matrix) of the item factors, on the driver (items only, sorted by id)."""
    frame = item_factors.select("item_id", "factors").orderBy("item_id").toPandas()
    return frame["item_id"].to_numpy(dtype=object), np.stack(frame["factors"].to_numpy()).astype(np.float32)


def retrieve(spark: SparkSession, user_factors: DataFrame, item_factors: DataFrame, n: int,
             settings: AnnConfig, seen: DataFrame | None = None) -> DataFrame:
    """user_id, item_id, score, rank: the n best items per user by inner product.

    Args:
        user_factors: user_id, factors.
        item_factors: item_id, factors.
        n: list length.
        settings: the `ann` section (index kind and search depth).
        seen: user_id, item_id to exclude per user, or None.
    """
    item_ids, matrix = collect_items(item_factors)
    payload = spark.sparkContext.broadcast((serialize(build_index(matrix, settings)), item_ids))
    queries = user_factors.select("user_id", "factors")
    if seen is not None:
        queries = queries.join(seen.groupBy("user_id").agg(F.collect_list("item_id").alias("seen")), "user_id",
                               "left")
    else:
        queries = queries.withColumn("seen", F.lit(None).cast("array<string>"))

    def score(batches):
        index, ids, position = _index_from(payload)
        for batch in batches:
            yield top_rows(index, ids, position, batch, n)

    return queries.mapInPandas(score, LIST_DDL)


def _index_from(payload) -> tuple[faiss.Index, np.ndarray, dict]:
    """The broadcast index, deserialized once per Python worker."""
    raw, ids = payload.value  # loaded once per worker by pyspark; the cache keeps `raw` alive, so its id is unique
    if id(raw) not in _INDEX_CACHE:
        _INDEX_CACHE.clear()
        _INDEX_CACHE[id(raw)] = (raw, deserialize(raw), ids, {item: i for i, item in enumerate(ids)})
    return _INDEX_CACHE[id(raw)][1:]


def top_rows(index: faiss.Index, ids: np.ndarray, position: dict, batch: pd.DataFrame, n: int) -> pd.DataFrame:
    """Search one batch of users and keep n unseen items each, as rows of LIST_DDL."""
    if batch.empty:
        return pd.DataFrame({"user_id": [], "item_id": [], "score": [], "rank": []})
    seen = [set(position[x] for x in s if x in position) if s is not None else set() for s in batch["seen"]]
    depth = n + max(len(s) for s in seen)
    scores, found = search(index, np.stack(batch["factors"].to_numpy()), depth)
    users, items, values, ranks = [], [], [], []
    for row, user in enumerate(batch["user_id"]):
        rank = 0
        for pos, value in zip(found[row], scores[row]):
            if pos < 0 or pos in seen[row]:
                continue
            rank += 1
            users.append(user)
            items.append(ids[pos])
            values.append(float(value))
            ranks.append(rank)
            if rank == n:
                break
    return pd.DataFrame({"user_id": users, "item_id": items, "score": np.asarray(values, np.float32),
                         "rank": np.asarray(ranks, np.int32)})
