"""`recs eval`: every source and the ranked lists on a temporal split, with baselines."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from pyspark.sql import functions as F

from conf.loader import PROJECT_ROOT
from spark_jobs import ingest, lake
from spark_jobs.offline import cart_eval, evaluation, ranker_search, report, served_eval
from spark_jobs.offline.als_search import search
from spark_jobs.offline.sources import RANKED
from spark_jobs.offline.split import EvaluationError, temporal_split
from spark_jobs.session import get_spark


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
    ev.add_argument("--search", action="store_true",
                    help="tune ALS and the ranker on a validation window before the cutoff")
    cart = ev.add_mutually_exclusive_group()
    cart.add_argument("--cart-only", action="store_true",
                      help="only the cart-completion protocol (bought-together and its fallbacks, HR@k and MRR)")
    cart.add_argument("--no-cart", action="store_true", help="skip the cart-completion protocol")
    ev.add_argument("--out", type=Path, help="report folder (default var/reports/eval/<env>-<cutoff>)")
    ev.set_defaults(handler=run_eval)

    served = sub.add_parser(
        "eval-served", help="score what a running lookup server answers on a temporal split's test window",
        description="Ask the lookup server at --url for every evaluated user's home list, as a shop's page would, "
                    "and score the answers against what users bought from --cutoff to --end. The server must "
                    "serve a snapshot of a run before the cutoff. Prints a table; writes results.json to --out.")
    served.add_argument("--url", help="the lookup server (default: eval.served_url)")
    served.add_argument("--cutoff", type=dt.date.fromisoformat, help="first test date (default: eval.cutoff)")
    served.add_argument("--end", type=dt.date.fromisoformat, help="last test date (default: eval.end)")
    served.add_argument("--input", choices=["raw", "lake"], default="raw",
                        help="raw: validate {raw} on the fly (no ingest needed); lake: curated events")
    served.add_argument("--mode", choices=[*evaluation.MODES, "both"], default="both",
                        help="discovery: the users' earlier purchases are not relevant; repeats: they are")
    served.add_argument("--out", type=Path, help="report folder (default var/reports/eval-served/<env>-<cutoff>)")
    served.set_defaults(handler=run_eval_served)


def split_dates(args, config) -> tuple[dt.date, dt.date]:
    """(cutoff, end): the command line's, else eval.cutoff / eval.end."""
    cutoff, end = args.cutoff or config.eval.cutoff, args.end or config.eval.end
    if cutoff is None or end is None:
        raise EvaluationError("no split: pass --cutoff and --end, or set eval.cutoff and eval.end")
    return cutoff, end


def run_eval(args, config) -> int:
    cutoff, end = split_dates(args, config)
    sources = args.sources.split(",") if args.sources else config.eval.sources
    spark = get_spark(config.spark, "recs-eval")
    began = time.perf_counter()
    events, catalog, loaded = load_input(spark, config, end, args.input)
    results = {"cutoff": cutoff.isoformat(), "end": end.isoformat()}
    if not args.cart_only:
        split = temporal_split(events, catalog, config, cutoff, end)
        tuned = ranker_tuned = None
        if args.search or config.als.search.enabled:
            config.als, tuned = search(spark, split, config, print)
        if RANKED in sources and (args.search or config.ranking.search.enabled):
            config, ranker_tuned = ranker_search.search(spark, split, config, print)
            spark.catalog.clearCache()          # the search's windows and frames; the split is cached again
            for frame in (events, split.train_events, split.train, split.users, split.relevant):
                frame.cache()
        results = evaluation.evaluate(spark, split, config, sources, print)
        results.update(als_search=tuned, ranker_search=ranker_tuned)
    if not args.no_cart:
        results["cart"] = cart_eval.evaluate(spark, events, catalog, config, cutoff, end)
    results.update(env=config.env, input=loaded, als=config.als.model_dump(), rerank=config.rerank.model_dump(),
                   ease=config.ease.model_dump(), total_seconds=round(time.perf_counter() - began, 1))
    out = args.out or PROJECT_ROOT / "var" / "reports" / "eval" / f"{config.env}-{cutoff}"
    paths = report.write(results, out)
    print(report.markdown_tables(results))
    if results.get("cart"):
        print(report.cart_table(results["cart"]))
    print(f"\nreport: {paths['markdown']}  results: {paths['json']}")
    return 0


def run_eval_served(args, config) -> int:
    cutoff, end = split_dates(args, config)
    spark = get_spark(config.spark, "recs-eval-served")
    events, catalog, _ = load_input(spark, config, end, args.input)
    split = temporal_split(events, catalog, config, cutoff, end)
    modes = evaluation.MODES if args.mode == "both" else {args.mode: evaluation.MODES[args.mode]}
    found = {mode: served_eval.evaluate(spark, split, args.url or config.eval.served_url, sorted(config.eval.ks),
                                        discovery, config.eval.served_timeout_seconds,
                                        config.eval.served_concurrency) for mode, discovery in modes.items()}
    out = args.out or PROJECT_ROOT / "var" / "reports" / "eval-served" / f"{config.env}-{cutoff}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(found, indent=2, default=str))
    first = next(iter(found.values()))
    print(f"snapshot {first['snapshot']} (run {first['snapshot_run_date']}) at {first['url']}, "
          f"test {cutoff}..{end}")
    print(report.markdown_tables({"ks": sorted(config.eval.ks),
                                  "results": {mode: {"served": r["figures"]} for mode, r in found.items()}}))
    for mode, r in found.items():
        print(f"{mode}: answers by source (users): {r['answer_sources']}")
    print(f"\nresults: {out / 'results.json'}")
    return 0


def load_input(spark, config, end: dt.date, source: str):
    """Events and catalog up to `end`: validated from raw, or the curated lake."""
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
