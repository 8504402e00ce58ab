"""`recs`: the one command line of the recommendation system; each package adds its subcommands."""

from __future__ import annotations

import argparse
import logging
import sys

from conf import ConfigError, load_config
from data_samples import commands as sample_commands
from export import commands as export_commands
from lookup_server import commands as serve_commands
from models import commands as model_commands
from spark_jobs import commands as job_commands

log = logging.getLogger("recs")


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
    for module in (sample_commands, job_commands, model_commands, export_commands, serve_commands):
        module.register(sub)
    return parser


def parse_overrides(pairs: list[str]) -> dict:
    """["a.b=1"] -> {"a.b": 1}; values parsed as YAML scalars."""
    import yaml

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set spark.master=local[4]")
        overrides[key.strip()] = yaml.safe_load(value) if value else ""
    return overrides


def show_config(args, config) -> int:
    import yaml

    from conf import config_digest

    print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False).rstrip())
    print(f"# digest: {config_digest(config)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        config = load_config(env=args.env, config_file=args.config, overrides=parse_overrides(args.set))
        return args.handler(args, config) or 0
    except (ConfigError, *job_commands.JOB_ERRORS, *model_commands.MODEL_ERRORS,
            *export_commands.EXPORT_ERRORS) as err:
        print(f"recs {args.command}: error: {err}", file=sys.stderr)
        return 2 if isinstance(err, ConfigError) else 1


if __name__ == "__main__":
    sys.exit(main())
