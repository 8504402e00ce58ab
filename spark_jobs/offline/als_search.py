"""A small seeded grid search of ALS hyperparameters on a validation window carved from train.

The train side of the split is cut again `als.search.validation_days` before the cutoff;
each grid point is fitted on the earlier part and scored (NDCG@metric_k, mean of the two
evaluation modes) on the later part. The test window is never looked at.
"""

from __future__ import annotations

import datetime as dt
import itertools

from conf import Config
from models.als import AlsParams, train
from models.ann import retrieve
from spark_jobs.offline import evaluation
from spark_jobs.offline.split import temporal_split


def grid(config: Config) -> list[AlsParams]:
    s = config.als.search
    return [AlsParams(f, r, a, config.als.iterations)
            for f, r, a in itertools.product(s.factors, s.regularization, s.alpha)]


def search(spark, split, config: Config, progress=print):
    """(a copy of config.als with the best grid point's parameters, the table of every point)."""
    k = config.als.search.metric_k
    cutoff = split.cutoff - dt.timedelta(days=config.als.search.validation_days)
    inner = temporal_split(split.train_events, split.catalog, config, cutoff,
                                      split.cutoff - dt.timedelta(days=1))
    seen = inner.train.select("user_id", "item_id")
    table = []
    for params in grid(config):
        factors = train(spark, inner.train, config.als, config.seed, params=params)
        users = factors.users.join(inner.users, "user_id")
        ndcg = []
        for exclude in (False, True):
            lists = retrieve(spark, users, factors.items, k, config.ann, seen if exclude else None)
            ndcg.append(evaluation.score_lists(lists, inner, [k], exclude, None, None)[k]["ndcg"])
        table.append((sum(ndcg) / 2, params, ndcg))
        progress(f"als search {params}: NDCG@{k} repeats {ndcg[0]:.4f} discovery {ndcg[1]:.4f}")
    best = max(table, key=lambda row: row[0])[1]
    progress(f"als search: best {best} (validation {cutoff} .. {split.cutoff - dt.timedelta(days=1)})")
    rows = [{**vars(params), f"ndcg@{k}_repeats": round(both[0], 4), f"ndcg@{k}_discovery": round(both[1], 4)}
            for _, params, both in table]
    best_settings = config.als.model_copy(update={"factors": best.factors, "regularization": best.regularization,
                                                  "alpha": best.alpha})
    return best_settings, {"validation": [cutoff.isoformat(), (split.cutoff - dt.timedelta(days=1)).isoformat()],
                           "best": vars(best), "grid": rows}
