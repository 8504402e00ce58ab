"""`recs generate` and `recs adapt`: make canonical raw data."""

from __future__ import annotations

import datetime as dt
import json
import resource
import sys
from pathlib import Path

from conf.loader import PROJECT_ROOT
from data_samples.generator import generate as generate_shop
from data_samples.online_retail import convert

DEFAULT_ONLINE_RETAIL = PROJECT_ROOT.parent / "shared" / "datasets" / "online_retail" / "online_retail.csv.gz"


def register(sub) -> None:
    gen = sub.add_parser(
        "generate", help="write a seeded synthetic shop (catalog + events) in the canonical format",
        description="Write a synthetic shop to OUT/events/dt=.../ and OUT/catalog/dt=.../: catalog with "
                    "categories, brands, prices, stock; users with tastes; view -> cart -> purchase "
                    "sessions; paired items; new items and users late in the window. Defaults come "
                    "from the `generator` section of the configuration.")
    gen.add_argument("--out", required=True, type=Path, help="output folder (a raw root for paths.raw)")
    gen.add_argument("--users", type=int, help="number of users")
    gen.add_argument("--items", type=int, help="number of items")
    gen.add_argument("--days", type=int, help="days of history, one dt= partition each")
    gen.add_argument("--start", type=dt.date.fromisoformat, help="first day, YYYY-MM-DD")
    gen.add_argument("--sessions-per-day", type=float,
                     help="a user's mean sessions per day (default generator.sessions_per_day; 0.02: sparse)")
    gen.add_argument("--seed", type=int, help="random seed (default: the configuration's seed)")
    gen.add_argument("--format", choices=["jsonl", "csv", "parquet"], help="events file format")
    gen.add_argument("--no-compress", action="store_true", help="do not gzip text files")
    gen.add_argument("--bad-share", type=float, default=0.0,
                     help="share of event rows damaged on purpose, to exercise quarantine (jsonl only)")
    gen.set_defaults(handler=generate)

    adapt = sub.add_parser("adapt", help="convert a public dataset into canonical raw partitions",
                           description="Convert a public dataset into canonical events and catalog partitions.")
    adapt_sub = adapt.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    retail = adapt_sub.add_parser(
        "online-retail", help="UCI Online Retail (CC BY 4.0)",
        description="UCI Online Retail -> purchases grouped into orders by invoice; cancellations, returns, "
                    "non-product codes and (by default) guest rows go to OUT/excluded/ with a reason.")
    retail.add_argument("--source", type=Path, default=DEFAULT_ONLINE_RETAIL, help="online_retail.csv(.gz)")
    retail.add_argument("--out", required=True, type=Path, help="output folder (a raw root)")
    retail.add_argument("--start", type=dt.date.fromisoformat, help="first UTC date to keep")
    retail.add_argument("--end", type=dt.date.fromisoformat, help="last UTC date to keep")
    retail.add_argument("--keep-guests", action="store_true", help="keep rows without CustomerID as guest users")
    retail.add_argument("--format", default="csv", choices=["jsonl", "csv", "parquet"], help="events file format")
    retail.add_argument("--no-compress", action="store_true", help="do not gzip text files")
    retail.set_defaults(handler=adapt_online_retail)


def generate(args, config) -> int:
    g = config.generator
    stats = generate_shop(args.out, users=args.users or g.users, items=args.items or g.items, days=args.days or g.days,
                start=args.start or g.start_date, seed=config.seed if args.seed is None else args.seed,
                events_format=args.format or g.events_format, compress=g.compress and not args.no_compress,
                bad_share=args.bad_share, sessions_per_day=args.sessions_per_day or g.sessions_per_day)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"out": str(args.out), "events": stats.events, "by_type": stats.by_type,
                      "files": stats.files, "seconds": round(stats.seconds, 1),
                      "events_per_second": round(stats.events / max(stats.seconds, 1e-9)),
                      "peak_memory_mb": round(peak_mb)}, indent=2))
    return 0


def adapt_online_retail(args, config) -> int:
    if not args.source.is_file():
        print(f"recs adapt: error: {args.source} not found; pass --source PATH to online_retail.csv(.gz)",
              file=sys.stderr)
        return 1
    report = convert(args.source, args.out, args.start, args.end, args.keep_guests, args.format,
                     not args.no_compress)
    print(json.dumps(report, indent=2))
    return 0
