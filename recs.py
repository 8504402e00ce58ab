"""`recs`: the one command line of the recommendation system, and the one module that sees every package.

Each package's commands.py wires only its own package; what needs several packages at once
(`recs demo`: the whole chain, then the server) lives here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from pathlib import Path

import yaml

from conf import ConfigError, config_digest, load_config
from data_samples import commands as sample_commands
from export import commands as export_commands
from export import store
from lookup_server import commands as serve_commands
from spark_jobs import chain, lake
from spark_jobs import commands as job_commands
from spark_jobs.offline import commands as eval_commands
from spark_jobs.offline.sources import check_config
from spark_jobs.session import get_spark, log_file

log = logging.getLogger("recs")
DEMO_ENVS = ("local", "retail")
QUIET_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "py4j")
ERRORS = (ConfigError, *job_commands.ERRORS, *export_commands.ERRORS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recs",
        description="Batch-precomputed recommendations: nightly Spark jobs, RocksDB snapshots, a lookup server.",
    )
    parser.add_argument("--env", help="configuration environment: conf/<ENV>.yaml (default $RECS_ENV or local)")
    parser.add_argument("--config", metavar="FILE", help="extra YAML layered on top (default $RECS_CONFIG)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        help="override one key, e.g. --set spark.master=yarn (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    config = sub.add_parser("config", help="print the effective configuration and its digest",
                            description="Print the effective configuration (files + RECS_* variables) as YAML.")
    config.set_defaults(handler=show_config)
    sample_commands.register(sub)
    job_commands.register(sub)
    eval_commands.register(sub)
    job_commands.register_build(export_commands.register(sub))
    serve_commands.register(sub)
    demo = sub.add_parser(
        "demo", help="the nightly chain on the committed samples: ingest, interactions, models, snapshot",
        description=f"For the environments {', '.join(DEMO_ENVS)} (the committed synthetic and Online Retail "
                    "samples): `recs run` for the last raw date (its ingest step takes every earlier date too), "
                    "which builds, publishes and exports a snapshot. The synthetic shop's snapshot is served as "
                    "soon as its chain ends, while the other samples' chains run (Ctrl-C stops).")
    demo.add_argument("--no-serve", action="store_true", help="stop after the pipeline instead of serving")
    demo.set_defaults(handler=run_demo)
    ab_demo = sub.add_parser(
        "ab-demo", help="a simulated two-week A/B test through the real lookup server, shipped and reported",
        description="Serve the synthetic shop's live snapshot (built first when there is none) with "
                    "ab_demo.experiment, one gunicorn run per simulated day under faketime; simulated visitors "
                    "open home pages, click and buy, posting /v1/feedback; then ship the logs and run "
                    "experiment_report for the last day (everything under var/ab_demo, rebuilt on each run).")
    ab_demo.set_defaults(handler=run_ab_demo)
    return parser


def parse_overrides(pairs: list[str]) -> dict:
    """["a.b=1"] -> {"a.b": 1}; values parsed as YAML scalars."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set spark.master=local[4]")
        overrides[key.strip()] = yaml.safe_load(value) if value else ""
    return overrides


def show_config(args, config) -> int:
    print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False).rstrip())
    print(f"# digest: {config_digest(config)}")
    return 0


def run_demo(args, config) -> int:
    """The chain on the first sample, then (unless --no-serve) its server, while the other samples run."""
    spark = get_spark(config.spark, "recs-demo")
    first, *others = DEMO_ENVS
    demo_chain(spark, first)
    if args.no_serve:
        for env in others:
            demo_chain(spark, env)
        spark.stop()
        return 0
    served = load_config(env=first)
    server = serve_commands.start_server(served, None)
    try:
        print("Try:\n" + "\n".join(f"  curl -s '{url}'" for url in serve_commands.example_urls(served)) + "\n",
              flush=True)
        for env in others:
            print(f"Meanwhile, the chain on the {env} sample (served by `recs --env {env} serve` afterwards):")
            demo_chain(spark, env)
        spark.stop()
        print(f"Still serving the {first} sample's snapshot; Ctrl-C stops.", flush=True)
    except BaseException:
        server.terminate()
        server.wait()
        raise
    return serve_commands.wait_server(server)


def demo_chain(spark, env: str) -> None:
    """The whole nightly chain for the sample's last date, with its ingest totals and where it went."""
    env_config = check_config(load_config(env=env))
    began = time.perf_counter()
    last = lake.list_dates(spark, f"{env_config.paths.raw}/events")[-1]
    print(f"== {env}: the nightly chain for {last} (raw {env_config.paths.raw})")
    reports = chain.run_chain(spark, env_config, last)
    ingest = next(r for r in reports if r.get("job") == "ingest")
    ingested = [dt.date.fromisoformat(d) for d in ingest["also_ingested"]] + [last]
    ingest_reports = [lake.read_json(spark, lake.report(env_config.paths.lake, "ingest", d)) for d in ingested]
    print(job_commands.format_ingest_totals(env, ingest_reports))
    by_job = {r.get("job"): r for r in reports}
    print(f"  snapshot {by_job['publish']['live']} live under {env_config.paths.snapshots}; exported: "
          f"{by_job['export'].get('url') or by_job['export'].get('skipped')}")
    print(f"  lake: {env_config.paths.lake}  ({time.perf_counter() - began:.0f} s)\n", flush=True)


def run_ab_demo(args, config) -> int:
    import shutil
    import subprocess
    import urllib.request

    import numpy as np

    from conf.loader import PROJECT_ROOT
    from data_samples import ab_simulation

    settings = config.ab_demo
    work = PROJECT_ROOT / "var" / "ab_demo"
    shutil.rmtree(work, ignore_errors=True)
    last = settings.start_date + dt.timedelta(days=settings.days - 1)
    demo = check_config(load_config(env=config.env, overrides={
        "serve.experiment": settings.experiment.model_dump(), "serve.impressions_dir": str(work / "logs"),
        "serve.session.sqlite_path": str(work / "sessions.sqlite3"), "paths.logs_raw": str(work / "raw"),
        "paths.lake": str(work / "lake"), "experiment_report.days": settings.days,
        "experiment_report.logs_dir": str(work / "logs")}))
    import glob

    preload = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1") + glob.glob("/usr/lib/faketime/"
                                                                                        "libfaketimeMT.so.1"))
    if not preload:
        raise ConfigError("libfaketime is missing: `make ab-demo` installs Debian's faketime package (as root), or "
                          "run `sudo apt-get install faketime`")
    spark = get_spark(config.spark, "recs-ab-demo")
    if store.current(Path(config.paths.snapshots)) is None:
        sample_last = lake.list_dates(spark, f"{config.paths.raw}/events")[-1]
        print(f"== no live snapshot under {config.paths.snapshots}: the nightly chain for {sample_last} first")
        chain.run_chain(spark, config, sample_last)
    users = sorted(ab_simulation.tastes(Path(config.paths.raw)).items())
    taste_of, pool = dict(users), [user for user, _ in users]
    rng = np.random.default_rng(config.seed)
    for n in range(settings.days):
        day = settings.start_date + dt.timedelta(days=n)
        argv, env = serve_commands.gunicorn_command(demo, free_port())
        env = {**env, "LD_PRELOAD": preload[0], "FAKETIME": f"@{day} 09:00:00"}    # its clock starts at `day`
        server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://{env['RECS_SERVE__HOST']}:{env['RECS_SERVE__PORT']}"
        try:
            for _ in range(300):
                try:
                    if urllib.request.urlopen(base + "/readyz", timeout=2).status == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            done = ab_simulation.day(base, pool, taste_of, rng, settings)
        finally:
            server.terminate()
            server.wait(timeout=30)                            # workers exit: their logs move to closed/
        print(f"  {day}: {dict(sorted(done.items()))}")
    print(f"== ship_logs: {json.dumps(chain.run_step('ship_logs', demo, last))}")
    report = chain.run_step("experiment_report", demo, last, spark)
    spark.stop()
    print(job_commands.experiment_report.table(report))
    print(f"\nreport.json, report.md and lift.png under {work / 'lake' / 'reports' / 'experiment_report'}/dt={last}")
    return 0


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for chatty in QUIET_LOGGERS:      # their debug output holds request headers, AWS session tokens among them
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        config = check_config(load_config(env=args.env, config_file=args.config, overrides=parse_overrides(args.set)))
        return args.handler(args, config) or 0
    except ERRORS as err:
        print(f"recs {args.command}: error: {err}", file=sys.stderr)
        spark_log = log_file(config.spark) if "config" in locals() else None
        if spark_log and spark_log.is_file():
            print(f"recs {args.command}: Spark's own log (WARN and above): {spark_log}", file=sys.stderr)
        return 2 if isinstance(err, ConfigError) else 1


if __name__ == "__main__":
    sys.exit(main())
