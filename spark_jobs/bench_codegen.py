"""`make bench-codegen`: the nightly chain with the configured code generation against Spark's defaults.

Spark compiles a fresh class for every query stage it fuses (whole-stage code generation) and keeps
only 100 of them (spark.sql.codegen.cache.maxEntries); the JVM then JIT-compiles each one. The
nightly chain runs about a thousand small stages, so on a small shop the compiling is much of what
its cores do. This runs `recs run --date D` of one environment from an empty lake, each variant in a
fresh process, alternating (configured, Spark's defaults, configured, ...) so that both meet the same
machine, and prints per-step seconds, the ratio of their medians, and whether every ranked list (item,
rank, reason, score) came out the same.

    python -m spark_jobs.bench_codegen [--env local] [--date 2026-11-14] [--repeats 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from conf import load_config
from spark_jobs.bench_chain import PROJECT_ROOT, recs_run, step_seconds

# Spark's own defaults for the two settings (conf.schema.SparkConfig.whole_stage_codegen, codegen_cache_entries)
SPARK_DEFAULTS = {"spark.whole_stage_codegen": "true", "spark.codegen_cache_entries": "100"}


def lists_digest(lake: Path, run_date: str) -> str:
    """sha256 of the ranked lists of `run_date` in a fixed order (user, rank), scores included."""
    path = lake / "curated" / "ranked" / f"dt={run_date}"
    if not path.is_dir():
        return "no ranked lists"
    frame = pd.read_parquet(path).sort_values(["user_id", "rank"]).reset_index(drop=True)
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).values.tobytes()).hexdigest()[:16]


def run_once(env: str, run_date: str, overrides: dict[str, str], folder: Path) -> dict:
    """`recs run` from an empty lake under `folder`; wall seconds, step seconds and the lists' digest."""
    shutil.rmtree(folder, ignore_errors=True)
    paths = {"paths.lake": folder / "lake", "paths.snapshots": folder / "snapshots", "paths.logs_raw": folder / "logs",
             "s3.local_dir": folder / "s3", "spark.log_dir": folder / "spark-logs"}
    began = time.perf_counter()
    done = subprocess.run(recs_run(env, {**paths, **overrides}, run_date), capture_output=True, text=True,
                          cwd=PROJECT_ROOT)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"the chain failed (exit {done.returncode}) with {overrides or 'the configured settings'}:"
                           f"\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return {"seconds": round(seconds, 1), "steps": step_seconds(done.stdout),
            "lists": lists_digest(folder / "lake", run_date)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="local", help="configuration environment (default: local, the sample)")
    parser.add_argument("--date", default="2026-11-14", help="run date (default: the synthetic sample's last)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each variant, alternating (default 2)")
    args = parser.parse_args(argv)
    spark = load_config(env=args.env).spark
    variants = {f"configured (whole_stage_codegen {str(spark.whole_stage_codegen).lower()}, "
                f"codegen_cache_entries {spark.codegen_cache_entries})": {},
                "Spark's defaults (whole_stage_codegen true, codegen_cache_entries 100)": SPARK_DEFAULTS}
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="recs-bench-codegen-") as tmp:
        for n in range(args.repeats):
            for name, overrides in variants.items():
                result = run_once(args.env, args.date, overrides, Path(tmp) / "run")
                runs[name].append(result)
                print(f"run {n + 1} {name}: chain {result['seconds']} s, ranking {result['steps'].get('ranking')} s, "
                      f"lists {result['lists']}", flush=True)
    summary = {}
    for name, results in runs.items():
        steps = {step: statistics.median(r["steps"][step] for r in results) for step in results[0]["steps"]}
        summary[name] = {"chain_seconds": statistics.median(r["seconds"] for r in results), "steps": steps,
                         "lists": sorted({r["lists"] for r in results})}
    configured, defaults = (summary[name] for name in variants)
    report = {"env": args.env, "run_date": args.date, "repeats": args.repeats, "variants": summary,
              "defaults_over_configured": {
                  "chain": round(defaults["chain_seconds"] / configured["chain_seconds"], 2),
                  "ranking": round(defaults["steps"]["ranking"] / configured["steps"]["ranking"], 2)},
              "same_lists": len(set(configured["lists"] + defaults["lists"])) == 1}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
