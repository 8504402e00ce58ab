"""`recs snapshot build|validate|publish|rollback|list` and `recs export push|pull`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from export.builder import SnapshotError
from export.s3 import ExportError

EXPORT_ERRORS = (SnapshotError, ExportError)


def register(sub) -> None:
    snap = sub.add_parser("snapshot", help="build, validate, publish and roll back RocksDB snapshots",
                          description="Snapshots live in paths.snapshots; CURRENT names the live one.")
    actions = snap.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="build <run_date>-<digest>/ from the run's outputs",
                               description="Read the run date's lists and catalog from the lake, write RocksDB "
                                           "and MANIFEST.json; with --publish, validate and make it live.")
    build.add_argument("--date", type=dt.date.fromisoformat, required=True)
    build.add_argument("--metrics", type=Path, help="a JSON file of offline metrics to record in the manifest")
    build.add_argument("--publish", action="store_true", help="publish it once built")
    build.set_defaults(handler=run_build)
    check = actions.add_parser("validate", help="checksums, counts, column families, a sample of values")
    check.add_argument("folder", type=Path, help="a snapshot folder (or a name under paths.snapshots)")
    check.set_defaults(handler=run_validate)
    pub = actions.add_parser("publish", help="validate a snapshot and point CURRENT at it (atomic rename)")
    pub.add_argument("name", nargs="?", help="snapshot name (default: the newest)")
    pub.set_defaults(handler=run_publish)
    back = actions.add_parser("rollback", help="point CURRENT back at the previous good snapshot")
    back.set_defaults(handler=run_rollback)
    show = actions.add_parser("list", help="snapshots on disk, the live one marked")
    show.set_defaults(handler=run_list)

    exp = sub.add_parser("export", help="push snapshots to S3 or pull them from it",
                         description="s3://<s3.bucket>/<s3.prefix>/<name>/: files first, MANIFEST.json last.")
    where = exp.add_subparsers(dest="direction", metavar="DIRECTION", required=True)
    push = where.add_parser("push", help="upload a snapshot (default: the live one); resumes an interrupted push")
    push.add_argument("name", nargs="?")
    push.set_defaults(handler=run_push)
    pull = where.add_parser("pull", help="download, verify and activate a snapshot (default: the newest in S3)")
    pull.add_argument("name", nargs="?")
    pull.add_argument("--no-activate", action="store_true", help="download and verify only")
    pull.set_defaults(handler=run_pull)


def root_of(config) -> Path:
    return Path(config.paths.snapshots)


def build_snapshot(spark, config, run_date: dt.date, metrics: dict | None = None) -> Path:
    """Build the snapshot of run_date from the lake (export/sources.py); return its folder."""
    from conf import config_digest
    from export import builder, sources

    lists, item_meta, inputs = sources.read(spark, config, run_date)
    digest = builder.inputs_digest(config_digest(config), inputs)
    meta = {"run": {"run_date": run_date.isoformat(), "digest": digest, "env": config.env, "inputs": inputs}}
    return builder.build(spark, root_of(config), run_date, digest, lists, item_meta, meta, config.snapshot, metrics)


def publish(config, name: str) -> dict:
    from export import store

    return store.publish(root_of(config), name, config.snapshot.keep, config.snapshot.validate_sample)


def run_build(args, config) -> int:
    from export import manifest
    from spark_jobs.session import get_spark

    spark = get_spark(config.spark, "recs-snapshot")
    metrics = json.loads(args.metrics.read_text()) if args.metrics else None
    folder = build_snapshot(spark, config, args.date, metrics)
    print(json.dumps({"built": str(folder), "counts": manifest.read(folder)["counts"]}, indent=2))
    if args.publish:
        print(json.dumps(publish(config, folder.name), indent=2))
    return 0


def _folder(config, value: Path) -> Path:
    return value if value.is_dir() else root_of(config) / str(value)


def run_validate(args, config) -> int:
    from export import store

    folder = _folder(config, args.folder)
    man = store.validate(folder, config.snapshot.validate_sample)
    print(f"{folder}: valid ({', '.join(f'{k} {v:,}' for k, v in man['counts'].items())})")
    return 0


def run_publish(args, config) -> int:
    from export import store

    name = args.name or (store.snapshots(root_of(config)) or [None])[-1]
    if name is None:
        raise SnapshotError(f"no finished snapshot under {root_of(config)}: run `recs snapshot build` first")
    print(json.dumps(publish(config, name)))
    return 0


def run_rollback(args, config) -> int:
    from export import store

    print(json.dumps(store.rollback(root_of(config), config.snapshot.validate_sample)))
    return 0


def run_list(args, config) -> int:
    from export import store

    live = store.current(root_of(config))
    for name in store.snapshots(root_of(config)):
        print(("* " if name == live else "  ") + name)
    return 0


def run_push(args, config) -> int:
    from export import s3, store

    name = args.name or store.current(root_of(config))
    if not name:
        raise ExportError("nothing is published: name a snapshot to push")
    print(json.dumps(s3.push(root_of(config) / name, config.s3), indent=2))
    return 0


def run_pull(args, config) -> int:
    from export import s3

    result = s3.pull(root_of(config), config.s3, args.name)
    if not args.no_activate:
        result["published"] = publish(config, result["name"])
    print(json.dumps(result, indent=2))
    return 0
