"""`recs eval` (offline evaluation on a temporal split) and `recs models` (the nightly model jobs)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from conf.loader import PROJECT_ROOT
from models.als import AlsError
from models.content import ContentError
from models.evaluation import EvaluationError
from models.gate import GateError
from models.ranker import RankerError

MODEL_JOBS = ("popularity", "item_similarity", "fbt_pairs", "content", "als", "ranking", "quality_gate")
MODEL_ERRORS = (AlsError, ContentError, EvaluationError, GateError, RankerError)


def register(sub) -> None:
    ev = sub.add_parser(
        "eval", help="offline metrics of every source on a temporal split, with baselines",
        description="Train every source on events before --cutoff, score its top-K lists against what users "
                    "bought from the cutoff to --end, in two modes (repeats allowed / discovery). Prints a "
                    "table; writes results.json, report.md and ndcg.png to --out.")
    ev.add_argument("--cutoff", type=dt.date.fromisoformat, help="first test date (default: eval.cutoff)")
    ev.add_argument("--end", type=dt.date.fromisoformat, help="last test date (default: eval.end)")
    ev.add_argument("--input", choices=["raw", "lake"], default="raw",
                    help="raw: validate {raw} on the fly (no ingest needed); lake: curated events")
    ev.add_argument("--sources", help="comma-separated subset of eval.sources")
    ev.add_argument("--search", action="store_true", help="tune ALS on a validation window before the cutoff")
    ev.add_argument("--out", type=Path, help="report folder (default var/reports/eval/<env>-<cutoff>)")
    ev.set_defaults(handler=run_eval)

    jobs = sub.add_parser(
        "models", help="nightly model jobs for run dates: popularity, similarity, fbt, content, ALS + ANN, ranking",
        description="For each run date D, from curated events and catalog: " + ", ".join(MODEL_JOBS) +
                    "; each writes {lake}/curated/<job>/dt=D/ and a report.")
    from spark_jobs.commands import add_dates
    add_dates(jobs, allow_all=False)
    jobs.add_argument("--only", help=f"comma-separated subset of {','.join(MODEL_JOBS)}")
    jobs.set_defaults(handler=run_models)


def run_eval(args, config) -> int:
    from models import evaluation, report
    from spark_jobs.session import get_spark

    cutoff, end = args.cutoff or config.eval.cutoff, args.end or config.eval.end
    if cutoff is None or end is None:
        raise EvaluationError("no split: pass --cutoff and --end, or set eval.cutoff and eval.end")
    sources = args.sources.split(",") if args.sources else config.eval.sources
    spark = get_spark(config.spark, "recs-eval")
    began = time.perf_counter()
    events, catalog, loaded = load_input(spark, config, end, args.input)
    split = evaluation.temporal_split(events, catalog, config, cutoff, end)
    tuned = None
    if args.search or config.als.search.enabled:
        from models.als.search import search
        config.als, tuned = search(spark, split, config, print)
    results = evaluation.evaluate(spark, split, config, sources, print)
    results["als_search"] = tuned
    results.update(env=config.env, input=loaded, als=config.als.model_dump(),
                   ease=config.ease.model_dump(), total_seconds=round(time.perf_counter() - began, 1))
    out = args.out or PROJECT_ROOT / "var" / "reports" / "eval" / f"{config.env}-{cutoff}"
    paths = report.write(results, out)
    print(report.markdown_tables(results))
    print(f"\nreport: {paths['markdown']}  results: {paths['json']}")
    return 0


def load_input(spark, config, end: dt.date, source: str):
    """Events and catalog up to `end`: validated from raw, or the curated lake."""
    from pyspark.sql import functions as F

    from spark_jobs import ingest, lake

    if source == "raw":
        return ingest.read_validated(spark, config, end)
    root = lake.curated(config.paths.lake, "events")
    dates = [d for d in lake.list_dates(spark, root) if d <= end]
    catalogs = [d for d in lake.list_dates(spark, lake.curated(config.paths.lake, "catalog")) if d <= end]
    if not dates or not catalogs:
        raise ingest.IngestError(f"no curated events/catalog on or before {end} under {config.paths.lake}: "
                                 "run `recs ingest` for the dates, or use --input raw")
    events = spark.read.option("basePath", root).parquet(*[lake.curated(config.paths.lake, "events", d)
                                                           for d in dates]).drop("dt")
    catalog = spark.read.parquet(lake.curated(config.paths.lake, "catalog", catalogs[-1]))
    return events.filter(F.col("event_time").isNotNull()), catalog, {"dates": len(dates), "source": "lake"}


def run_models(args, config) -> int:
    from spark_jobs.commands import run_dates, run_model_jobs
    from spark_jobs.session import get_spark

    only = args.only.split(",") if args.only else list(MODEL_JOBS)
    unknown = sorted(set(only) - set(MODEL_JOBS))
    if unknown:
        raise EvaluationError(f"unknown job(s) {unknown}; choose from {', '.join(MODEL_JOBS)}")
    spark = get_spark(config.spark, "recs-models")
    for date in run_dates(args, spark, config):
        began = time.perf_counter()
        for job, report in run_model_jobs(spark, config, date, only):
            shown = {k: v for k, v in report.items() if k not in ("job", "run_date", "output")}
            print(f"{job} {config.env} {date}: {json.dumps(shown)} ({time.perf_counter() - began:.0f} s)")
            began = time.perf_counter()
    return 0
