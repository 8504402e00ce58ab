"""The ranker's settings chosen on a validation window carved from train, never on the test window.

As the ALS search (als_search.py): the train side is cut again ranking.search.validation_days
before the cutoff. The candidate sources and each label window before that inner cutoff are
fitted once; every grid point (overrides of ranking.params, of label_windows, or of a
re-ranking rule as "rerank.<name>") trains a ranker on them (points that change only rules
reuse the one trained before) and makes the final lists at the inner cutoff, in the nightly
run's mode (discovery unless the re-ranking rules keep purchased items), scored by NDCG at
ranking.search.metric_k on the validation window. The best point's settings are then used for
the test window.
"""

from __future__ import annotations

import datetime as dt

from conf import Config
from spark_jobs.offline import candidates, evaluation, ranked
from spark_jobs.offline.split import Split, temporal_split

RULE = "rerank."


def settings_of(config: Config, point: dict) -> Config:
    """`config` with one grid point's overrides: label_windows, rerank.<rule>, or any ranking.params key."""
    rules = {k[len(RULE):]: v for k, v in point.items() if k.startswith(RULE)}
    params = {**config.ranking.params,
              **{k: v for k, v in point.items() if k != "label_windows" and not k.startswith(RULE)}}
    update = {"params": params, **({"label_windows": point["label_windows"]} if "label_windows" in point else {})}
    return config.model_copy(update={"ranking": config.ranking.model_copy(update=update),
                                     "rerank": config.rerank.model_validate({**config.rerank.model_dump(), **rules})})


def search(spark, split: Split, config: Config, progress=print) -> tuple[Config, dict]:
    """(`config` with the best grid point's settings, the table of every point)."""
    s = config.ranking.search
    k = s.metric_k
    discovery = ranked.is_discovery(config.rerank)
    cutoff = split.cutoff - dt.timedelta(days=s.validation_days)
    inner = temporal_split(split.train_events, split.catalog, config, cutoff, split.cutoff - dt.timedelta(days=1))
    frame = ranked.candidate_frame(spark, inner, inner.users, config, discovery, candidates.fit(spark, inner, config))
    cache: dict = {}
    models: dict = {}
    table = []
    for point in s.grid:
        trial = settings_of(config, point)
        rules = ranked.mode_rules(trial.rerank, discovery)
        key = trial.ranking.model_dump_json()
        if key not in models:
            models[key] = ranked.train(spark, inner.train_events, inner.catalog, trial, inner.cutoff, discovery, cache)
        model = models[key]
        lists = ranked.final_lists(spark, inner, inner.users, trial, model, rules, discovery, k, frame=frame)
        ndcg = evaluation.score_lists(lists, inner, [k], discovery, None, None)[k]["ndcg"]
        table.append({"point": point, f"ndcg@{k}": round(ndcg, 4), "queries": model.training["users"]})
        progress(f"ranker search {point}: NDCG@{k} {'discovery' if discovery else 'repeats'} {ndcg:.4f}")
    best = max(table, key=lambda row: row[f"ndcg@{k}"])
    window = [cutoff.isoformat(), (split.cutoff - dt.timedelta(days=1)).isoformat()]
    progress(f"ranker search: best {best['point']} (validation {' .. '.join(window)})")
    return settings_of(config, best["point"]), {"validation": window, "mode": "discovery" if discovery else "repeats",
                                                "best": best["point"], "grid": table}
