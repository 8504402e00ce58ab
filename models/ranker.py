"""The learning-to-rank model: XGBoost rank:ndcg over candidate features, and its scoring in Spark.

fit() trains on a driver-sized pandas frame (sampled users, see spark_jobs/offline/ranked.py), seeded from
the configuration. to_json()/from_json() keep the model with its feature list, parameters,
config digest and feature importances (gain) in one document. rank() scores every user's candidates over user
partitions in Spark (the model broadcast once), scales the scores to [0, 1] per user, hands the
best ranking.rerank_pool candidates to the business rules (models/rerank.py) and returns the
final lists with a reason code per item, from the reason templates of the candidate's best
source ("similar_to:{}" takes the anchor item; spark_jobs/offline/sources.py holds them).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from conf.schema import RankingConfig, RerankConfig
from models.rerank import RERANK_COLUMNS, Candidate, rerank

RANKED_DDL = "user_id string, item_id string, score float, rank int, reason string"
MODEL_FORMAT = "xgboost-ubj-base64"
DEFAULT_REASON = "recommended"


class RankerError(RuntimeError):
    """The ranker cannot be trained or loaded (no positive labels, a missing or foreign model file)."""


@dataclass
class Ranker:
    model: bytes
    features: list[str]
    digest: str
    params: dict
    importances: dict[str, float] = field(default_factory=dict)
    training: dict = field(default_factory=dict)

    def booster(self):
        booster = xgb.Booster()
        booster.load_model(bytearray(self.model))
        return booster


def fit(train: pd.DataFrame, features: list[str], settings: RankingConfig, seed: int, digest: str) -> Ranker:
    """Train XGBRanker on rows (user_id, label, *features): one query group per user."""
    if train.empty or train["label"].sum() == 0:
        raise RankerError("no positive labels in the training window: nothing bought by users with candidates; "
                          "widen ranking.label_days or check the dates against the data")
    train = train.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)
    qid = pd.factorize(train["user_id"])[0]
    model = xgb.XGBRanker(**settings.params, random_state=seed, n_jobs=settings.fit_threads or None)
    model.fit(train[features].astype(np.float32), train["label"].to_numpy(np.float32), qid=qid)
    booster = model.get_booster()
    gain = booster.get_score(importance_type="gain")
    total = sum(gain.values()) or 1.0
    importances = {name: round(gain.get(name, 0.0) / total, 4) for name in features}
    training = {"rows": len(train), "users": int(qid.max() + 1), "positives": int(train["label"].sum())}
    return Ranker(bytes(booster.save_raw("ubj")), list(features), digest, dict(settings.params),
                  dict(sorted(importances.items(), key=lambda kv: -kv[1])), training)


def to_json(ranker: Ranker) -> dict:
    """The ranker as one JSON document: metadata plus the XGBoost model (UBJSON, base64)."""
    meta = {k: v for k, v in asdict(ranker).items() if k != "model"}
    return {**meta, "format": MODEL_FORMAT, "model": base64.b64encode(ranker.model).decode()}


def from_json(document: dict, digest: str | None = None) -> Ranker:
    """The ranker of to_json(); with `digest`, refuse one trained under another configuration."""
    if document.get("format") != MODEL_FORMAT:
        raise RankerError(f"not a saved ranker (format {document.get('format')!r}, expected {MODEL_FORMAT})")
    if digest is not None and document["digest"] != digest:
        raise RankerError(f"the ranker was trained with config digest {document['digest']}, not {digest}: "
                          "retrain it for this configuration")
    fields = {k: document[k] for k in ("features", "digest", "params", "importances", "training")}
    return Ranker(base64.b64decode(document["model"]), **fields)


def reason(source: str | None, anchor, reasons: dict[str, str]) -> str:
    """The reason code of a candidate from its best source's template (`reasons`: source -> template)."""
    template = reasons.get(source or "", DEFAULT_REASON)
    return template.format(anchor) if "{}" in template and anchor else template.split(":")[0]


def whole_users(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Re-cut Arrow batches (rows sorted by user) so that no user is split across two chunks."""
    carry = None
    for batch in batches:
        if carry is not None:
            batch = pd.concat([carry, batch], ignore_index=True)
        if batch.empty:
            continue
        last = batch["user_id"].iloc[-1]
        tail = batch["user_id"] == last
        carry = batch[tail]
        if (~tail).any():
            yield batch[~tail]
    if carry is not None and not carry.empty:
        yield carry


def final_lists(chunk: pd.DataFrame, scores: np.ndarray, rules: RerankConfig, run_date: dt.date, n: int,
                pool: int, reasons: dict[str, str]) -> pd.DataFrame:
    """Per user: the best `pool` candidates by score, scaled to [0, 1], through the business rules.

    The stored score of each entry is at most the one above it (snapshots hold lists in
    descending score order; the rules' caps and boosts can move a higher score down).
    """
    chunk = chunk.assign(_s=scores).sort_values(["user_id", "_s", "item_id"], ascending=[True, False, True])
    top = chunk[chunk.groupby("user_id", sort=False).cumcount().to_numpy() < pool]   # each user's best, in order
    columns = {c: top[c].tolist() for c in ("user_id", "item_id", "source", "anchor", "category", "brand",
                                            "in_stock", "promoted", "margin_tier", "purchased")}
    created = [None if pd.isna(x) else x for x in top["created_at"]]
    s, users = top["_s"].to_numpy(), top["user_id"].to_numpy()
    bounds = np.flatnonzero(users[1:] != users[:-1]) + 1
    out: dict[str, list] = {"user_id": [], "item_id": [], "score": [], "rank": [], "reason": []}
    for a, b in zip(np.r_[0, bounds], np.r_[bounds, len(top)]) if len(top) else ():
        low, high = s[a:b].min(), s[a:b].max()
        scaled = (s[a:b] - low) / (high - low) if high > low else np.ones(b - a)
        candidates = [Candidate(item_id=columns["item_id"][i], score=float(scaled[i - a]),
                                reason=reason(columns["source"][i], columns["anchor"][i], reasons),
                                category=columns["category"][i] or "", brand=columns["brand"][i] or "",
                                in_stock=columns["in_stock"][i] is not False, promoted=bool(columns["promoted"][i]),
                                created_at=created[i], margin_tier=columns["margin_tier"][i],
                                purchased=bool(columns["purchased"][i]))
                      for i in range(a, b)]
        user = columns["user_id"][a]
        ceiling = float("inf")
        for rank, c in enumerate(rerank(candidates, rules, run_date, n), start=1):
            ceiling = min(ceiling, c.score)     # an item held back by a cap keeps the order: scores never rise
            out["user_id"].append(user)
            out["item_id"].append(c.item_id)
            out["score"].append(ceiling)
            out["rank"].append(rank)
            out["reason"].append(c.reason)
    return pd.DataFrame({**out, "score": np.asarray(out["score"], np.float32),
                         "rank": np.asarray(out["rank"], np.int32)})


def rank(spark: SparkSession, frame: DataFrame, ranker: Ranker, rules: RerankConfig, run_date: dt.date,
         n: int, pool: int, reasons: dict[str, str]) -> DataFrame:
    """user_id, item_id, score, rank, reason: every user's final list, scored over user partitions."""
    payload = spark.sparkContext.broadcast(ranker.model)
    features = ranker.features
    rows = frame.select("user_id", "item_id", *features, *RERANK_COLUMNS, "source", "anchor") \
        .repartition("user_id").sortWithinPartitions("user_id", "item_id")

    def score(batches):
        booster = xgb.Booster()
        booster.load_model(bytearray(payload.value))
        for chunk in whole_users(batches):
            predicted = booster.inplace_predict(chunk[features].to_numpy(np.float32))
            yield final_lists(chunk, predicted, rules, run_date, n, pool, reasons)

    return rows.mapInPandas(score, RANKED_DDL)


def rank_by_source(spark: SparkSession, frame: DataFrame, source: str, rules: RerankConfig, run_date: dt.date,
                   n: int, pool: int, reasons: dict[str, str]) -> DataFrame:
    """One source's lists through the same business rules: its own candidates in its own order (no model).

    What a run publishes when that source beat the ranker on the quality gate's holdout.
    """
    mine = F.col("source") == source
    rows = frame.filter(F.col(f"{source}_rank").isNotNull()).select(
        "user_id", "item_id", (-F.col(f"{source}_rank")).cast("float").alias("_order"), *RERANK_COLUMNS,
        F.lit(source).alias("source"), F.when(mine, F.col("anchor")).alias("anchor")) \
        .repartition("user_id").sortWithinPartitions("user_id", "item_id")

    def score(batches):
        for chunk in whole_users(batches):
            yield final_lists(chunk, chunk["_order"].to_numpy(np.float32), rules, run_date, n, pool, reasons)

    return rows.mapInPandas(score, RANKED_DDL)
