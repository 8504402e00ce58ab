"""`recs ingest`, `interactions`, `run`, `step`, `models` and `snapshot build`: run Spark jobs for run dates."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from export import manifest, store
from models.als import AlsError
from models.content import ContentError
from models.ranker import RankerError
from spark_jobs import chain, experiment_report, ingest, interactions, lake, snapshot
from spark_jobs.ingest import IngestError
from spark_jobs.interactions import InteractionsError
from spark_jobs.offline.gate import GateError
from spark_jobs.offline.split import EvaluationError
from spark_jobs.raw_input import RawInputError
from spark_jobs.session import get_spark
from spark_jobs.steps import BY_NAME, MODEL_JOBS, STEPS, ChainError

ERRORS = (IngestError, InteractionsError, RawInputError, ChainError, AlsError, ContentError, EvaluationError,
          GateError, RankerError)


def register(sub) -> None:
    ingest = sub.add_parser(
        "ingest", help="validate, dedupe and curate raw events and catalog for run dates",
        description="For each run date D: read {raw}/events/dt=D and the catalog as of D, quarantine bad "
                    "rows with a reason, write {lake}/curated/{events,catalog}/dt=D and a JSON report. "
                    "Fails when the quarantined share passes ingest.max_bad_share.")
    add_dates(ingest, allow_all=True)
    ingest.set_defaults(handler=run_ingest)

    inter = sub.add_parser(
        "interactions", help="per (user, item) decayed weights as of the end of run dates",
        description="For each run date D: weights per event type, decayed by age from the end of D, from "
                    "curated events of the lookback window; writes {lake}/curated/interactions/dt=D.")
    add_dates(inter, allow_all=False)
    inter.set_defaults(handler=run_interactions)

    run = sub.add_parser(
        "run", help="the whole nightly chain for run dates in one Spark session (no Airflow)",
        description="For each run date D, every step of the nightly DAG in order, in one Spark session: "
                    + " -> ".join(step.name for step in STEPS) + ". The same job code as the Airflow tasks; "
                    "stops at the first failure (nothing is published then).")
    add_dates(run, allow_all=False)
    run.set_defaults(handler=run_chain)

    step = sub.add_parser(
        "step", help="one step of the nightly chain for one run date (what each Airflow task runs)",
        description="Run one step for --date; Spark steps start their own session (under spark-submit, "
                    "on the master spark-submit was given). Prints the step's report as JSON.")
    step.add_argument("name", choices=[s.name for s in STEPS])
    step.add_argument("--date", type=dt.date.fromisoformat, required=True, help="run date YYYY-MM-DD")
    step.set_defaults(handler=run_one_step)

    jobs = sub.add_parser(
        "models", help="nightly model jobs for run dates: popularity, similarity, fbt, content, ALS + ANN, ranking",
        description="For each run date D, from curated events and catalog: " + ", ".join(MODEL_JOBS) +
                    "; each writes {lake}/curated/<job>/dt=D/ and a report.")
    add_dates(jobs, allow_all=False)
    jobs.add_argument("--only", help=f"comma-separated subset of {','.join(MODEL_JOBS)}")
    jobs.set_defaults(handler=run_models)

    experiments = sub.add_parser(
        "experiments", help="the A/B loop: ship the lookup server's logs, report on serve.experiment",
        description="`ship`: copy closed impression and feedback logs (experiment_report.logs_dir/closed) to "
                    "{raw}/impressions|feedback/dt= and move them to shipped/. `report --date D`: run the "
                    "experiment_report job for D and print its table (report.json, report.md and lift.png "
                    "under {lake}/reports/experiment_report/dt=D).")
    actions = experiments.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("ship", help="ship closed logs into the raw zone (idempotent)").set_defaults(
        handler=run_ship_logs)
    report = actions.add_parser("report", help="the experiment's report for a date, printed as a table")
    report.add_argument("--date", type=dt.date.fromisoformat, required=True, help="run date YYYY-MM-DD")
    report.set_defaults(handler=run_experiment_report)


def register_build(actions) -> None:
    """`recs snapshot build`: added to export/commands.py's `snapshot` actions (it reads the lake with Spark)."""
    build = actions.add_parser("build", help="build <run_date>-<digest>/ from the run's outputs",
                               description="Read the run date's lists and catalog from the lake, write RocksDB "
                                           "and MANIFEST.json; with --publish, validate and make it live.")
    build.add_argument("--date", type=dt.date.fromisoformat, required=True)
    build.add_argument("--metrics", type=Path, help="a JSON file of offline metrics to record in the manifest")
    build.add_argument("--publish", action="store_true", help="publish it once built")
    build.set_defaults(handler=run_build)


def add_dates(parser, allow_all: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--date", type=dt.date.fromisoformat, help="run date YYYY-MM-DD")
    group.add_argument("--start", type=dt.date.fromisoformat, help="first run date of a range (with --end)")
    if allow_all:
        group.add_argument("--all", action="store_true", help="every date that has raw events")
    parser.add_argument("--end", type=dt.date.fromisoformat, help="last run date of a range (inclusive)")


def run_dates(args, spark, config) -> list[dt.date]:
    """The dates named by --date, --start/--end or --all."""
    if args.date:
        return [args.date]
    if getattr(args, "all", False):
        dates = lake.list_dates(spark, f"{config.paths.raw.rstrip('/')}/events")
        if not dates:
            raise RawInputError(f"no dt= partitions under {config.paths.raw}/events")
        return dates
    if not args.end or args.end < args.start:
        raise IngestError("--start needs --end on or after it")
    return [args.start + dt.timedelta(days=n) for n in range((args.end - args.start).days + 1)]


def run_ingest(args, config) -> int:
    spark = get_spark(config.spark, "recs-ingest")
    reports = ingest.main_dates(spark, config, run_dates(args, spark, config))     # one Spark pass for all
    for report in reports:
        print(format_ingest_line(config.env, report))
    if len(reports) > 1:
        print(format_ingest_totals(config.env, reports))
    return 0


def run_interactions(args, config) -> int:
    spark = get_spark(config.spark, "recs-interactions")
    for date in run_dates(args, spark, config):
        report = interactions.main(spark, config, date)
        print(f"interactions {config.env} {date}: {report['pairs']:,} pairs, {report['users']:,} users, "
              f"{report['items']:,} items -> {report['output']}")
    return 0


def run_chain(args, config) -> int:
    spark = get_spark(config.spark, "recs-run")
    for date in run_dates(args, spark, config):
        began = time.perf_counter()
        print(f"== {config.env} {date}")
        chain.run_chain(spark, config, date)
        print(f"== {config.env} {date}: done in {time.perf_counter() - began:.0f} s")
    return 0


def run_one_step(args, config) -> int:
    spark = None
    if BY_NAME[args.name].spark:
        spark = get_spark(config.spark, f"recs-{args.name}-{args.date}")
    report = chain.run_step(args.name, config, args.date, spark)
    print(json.dumps(report, indent=2, default=str))
    return 0


def run_models(args, config) -> int:
    only = args.only.split(",") if args.only else list(MODEL_JOBS)
    unknown = sorted(set(only) - set(MODEL_JOBS))
    if unknown:
        raise ChainError(f"unknown job(s) {unknown}; choose from {', '.join(MODEL_JOBS)}")
    spark = get_spark(config.spark, "recs-models")
    for date in run_dates(args, spark, config):
        began = time.perf_counter()
        for job in [name for name in MODEL_JOBS if name in only]:
            report = chain.run_step(job, config, date, spark)
            shown = {k: v for k, v in report.items() if k not in ("job", "run_date", "output")}
            print(f"{job} {config.env} {date}: {json.dumps(shown)} ({time.perf_counter() - began:.0f} s)")
            began = time.perf_counter()
    return 0


def run_ship_logs(args, config) -> int:
    print(json.dumps(chain.run_step("ship_logs", config, dt.date.today()), indent=2))
    return 0


def run_experiment_report(args, config) -> int:
    spark = get_spark(config.spark, "recs-experiment-report")
    report = chain.run_step("experiment_report", config, args.date, spark)
    print(experiment_report.table(report))
    if report.get("experiment"):
        folder = lake.report(config.paths.lake, "experiment_report", args.date).rsplit("/", 1)[0]
        print(f"\nreport.json, report.md and lift.png under {folder}")
    spark.stop()
    return 0


def run_build(args, config) -> int:
    spark = get_spark(config.spark, "recs-snapshot")
    metrics = json.loads(args.metrics.read_text()) if args.metrics else None
    folder = snapshot.build(spark, config, args.date, metrics)
    print(json.dumps({"built": str(folder), "counts": manifest.read(folder)["counts"]}, indent=2))
    if args.publish:
        print(json.dumps(store.publish(Path(config.paths.snapshots), folder.name, config.snapshot.keep,
                                       config.snapshot.validate_sample), indent=2))
    return 0


def format_ingest_line(env: str, report: dict) -> str:
    e = report["events"]
    reasons = ", ".join(f"{k} {v}" for k, v in e["by_reason"].items()) or "none"
    return (f"ingest {env} {report['run_date']}: {e['rows_in']:,} rows in, {e['rows_kept']:,} kept, "
            f"{e['rows_quarantined']:,} quarantined ({reasons}); catalog {report['catalog'].get('items', 0):,} items")


def format_ingest_totals(env: str, reports: list[dict]) -> str:
    """A table of the rows in, kept and quarantined by reason over several run dates."""
    def total(kind, key):
        return sum(r[kind][key] for r in reports)

    lines = [f"== {env}: ingested {len(reports)} date(s), {reports[0]['run_date']} .. {reports[-1]['run_date']}"]
    for kind in ("events", "catalog"):
        rows_in, kept, bad = total(kind, "rows_in"), total(kind, "rows_kept"), total(kind, "rows_quarantined")
        lines.append(f"  {kind:8s} rows in {rows_in:>10,}   kept {kept:>10,}   quarantined {bad:>7,}"
                     f" ({bad / rows_in if rows_in else 0:.2%})")
        reasons: dict[str, int] = {}
        for r in reports:
            for reason, count in r[kind]["by_reason"].items():
                reasons[reason] = reasons.get(reason, 0) + count
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            lines.append(f"      {reason:24s} {count:>7,}")
    unknown = sum(r["events"].get("events_with_unknown_item", 0) for r in reports)
    lines.append(f"  events whose item is not in the catalog: {unknown:,}")
    return "\n".join(lines)
