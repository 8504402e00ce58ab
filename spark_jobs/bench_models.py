"""Benchmark: implicit ALS vs Spark MLlib ALS on the same interactions, and faiss IVF / HNSW vs exact search.

    python -m spark_jobs.bench_models [--users 20000 --items 5000 --interactions 500000]   (or `make bench-models`)

Prints one JSON document with the timings measured side by side in this run and their
ratios. Interactions are synthetic with latent structure (users and items in taste
clusters, skewed popularity) so the factors, and so the ANN problem, look like real ones.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from conf import load_config
from models.als import AlsParams, train
from models.ann import build_index, search
from spark_jobs.session import get_spark


def synthetic_interactions(users: int, items: int, n: int, clusters: int, seed: int):
    """(user index, item index, weight) arrays: 80% in the user's cluster, Zipf-skewed popularity."""
    rng = np.random.default_rng(seed)
    user_cluster = rng.integers(0, clusters, users)
    item_cluster = rng.integers(0, clusters, items)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    rng.shuffle(popularity)
    members = [np.flatnonzero(item_cluster == c) for c in range(clusters)]
    weights = [popularity[m] / popularity[m].sum() for m in members]
    u = rng.integers(0, users, n)
    own = rng.random(n) < 0.8
    it = rng.choice(items, n, p=popularity / popularity.sum())
    for c in range(clusters):
        pick = own & (user_cluster[u] == c)
        it[pick] = rng.choice(members[c], pick.sum(), p=weights[c])
    pairs = np.unique(np.stack([u, it], 1), axis=0)
    return pairs[:, 0], pairs[:, 1], rng.integers(1, 6, len(pairs)).astype(np.float32)


def timed(fn):
    began = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - began


def bench_als(spark, config, args) -> dict:
    u, i, w = synthetic_interactions(args.users, args.items, args.interactions, 50, config.seed)
    frame = spark.createDataFrame(
        [(f"u{a}", f"i{b}", float(c)) for a, b, c in zip(u, i, w)], "user_id string, item_id string, weight double"
    ).repartition(config.spark.shuffle_partitions).cache()
    frame.count()
    params = AlsParams(args.factors, 0.1, 1.0, args.iterations)
    result = {"interactions": len(u), "users": args.users, "items": args.items, "factors": args.factors,
              "iterations": args.iterations}
    for engine in ("implicit", "spark"):
        def fit(engine=engine):
            factors = train(spark, frame, config.als, config.seed, params=params, engine=engine)
            return factors.users.count() + factors.items.count()
        _, seconds = timed(fit)
        result[f"{engine}_seconds"] = round(seconds, 2)
    result["spark_over_implicit"] = round(result["spark_seconds"] / result["implicit_seconds"], 1)
    return result


def bench_ann(config, args) -> dict:
    import faiss
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    u, i, w = synthetic_interactions(args.ann_users, args.ann_items, args.ann_interactions, 200, config.seed)
    matrix = sp.csr_matrix((w, (u, i)), shape=(args.ann_users, args.ann_items))
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=args.factors, iterations=args.iterations, random_state=config.seed)
        model.fit(matrix, show_progress=False)
    items = np.ascontiguousarray(model.item_factors, dtype=np.float32)
    queries = np.ascontiguousarray(model.user_factors[: args.queries], dtype=np.float32)
    exact = build_index(items, config.ann.model_copy(update={"exact_max_items": len(items)}))
    (_, truth), exact_seconds = timed(lambda: search(exact, queries, args.k))
    result = {"items": len(items), "queries": len(queries), "k": args.k, "factors": args.factors,
              "faiss_threads": faiss.omp_get_max_threads(), "exact_search_seconds": round(exact_seconds, 3),
              "exact_queries_per_second": round(len(queries) / exact_seconds)}
    for kind, extra in (("pruned", {"prune_share": 0.05}), ("pruned", {"prune_share": 0.2}),
                        ("ivf", {"ivf_probe": config.ann.ivf_probe}), ("ivf", {"ivf_probe": 16}),
                        ("hnsw", {"ef_search": config.ann.ef_search})):
        settings = config.ann.model_copy(update={"exact_max_items": 1, "large_index": kind, **extra})
        index, build = timed(lambda settings=settings: build_index(items, settings))
        (_, found), seconds = timed(lambda index=index: search(index, queries, args.k))
        recall = float(np.mean([len(set(f) & set(t)) / args.k for f, t in zip(found, truth)]))
        name = f"{kind} " + ",".join(f"{k}={v}" for k, v in extra.items())
        result[name] = {"build_seconds": round(build, 2), "search_seconds": round(seconds, 3),
                        "queries_per_second": round(len(queries) / seconds),
                        "speedup_over_exact": round(exact_seconds / seconds, 2),
                        f"recall_at_{args.k}": round(recall, 4)}
        if kind == "pruned":        # exact: the queries whose bound failed were searched over every item
            result[name]["queries_searched_over_every_item"] = index.searched_all
    result.update(norm_quantiles(items))
    return result


def norm_quantiles(items) -> dict:
    """Why IVF recalls little on ALS factors and norm pruning works: the item norms are skewed (the exact top k of
    every user comes from the few items with the largest norms, which the pruned rows above scan first)."""
    norms = np.linalg.norm(items, axis=1)
    return {"item_norm_quantiles_0_50_90_99_100": [round(float(v), 4) for v in
                                                   np.quantile(norms, [0, 0.5, 0.9, 0.99, 1.0])]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark_jobs.bench_models", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--interactions", type=int, default=500_000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--ann-users", type=int, default=50_000)
    parser.add_argument("--ann-items", type=int, default=500_000)
    parser.add_argument("--ann-interactions", type=int, default=3_000_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("-k", type=int, default=100)
    parser.add_argument("--ann-only", action="store_true", help="skip the ALS engines' benchmark")
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    config = load_config(env=args.env)
    report = {"cpus": os.cpu_count(), "spark_master": config.spark.master}
    if not args.ann_only:
        spark = get_spark(config.spark, "recs-bench-models")
        report["als"] = bench_als(spark, config, args)
        spark.stop()
    report["ann"] = bench_ann(config, args)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
