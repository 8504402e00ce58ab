"""`recs snapshot validate|publish|rollback|list` and `recs export push|pull` (Spark-free).

`recs snapshot build` reads the lake with Spark: spark_jobs/commands.py adds it to the
`snapshot` actions that register() returns.
"""

from __future__ import annotations

import json
from pathlib import Path

from export import s3, store
from export.format import SnapshotError
from export.s3 import ExportError

ERRORS = (SnapshotError, ExportError)


def register(sub):
    """Add `snapshot` and `export`; return the `snapshot` actions (for the Spark `build` action)."""
    snap = sub.add_parser("snapshot", help="build, validate, publish and roll back RocksDB snapshots",
                          description="Snapshots live in paths.snapshots; CURRENT names the live one.")
    actions = snap.add_subparsers(dest="action", metavar="ACTION", required=True)
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
    return actions


def root_of(config) -> Path:
    return Path(config.paths.snapshots)


def publish(config, name: str) -> dict:
    return store.publish(root_of(config), name, config.snapshot.keep, config.snapshot.validate_sample)


def _folder(config, value: Path) -> Path:
    return value if value.is_dir() else root_of(config) / str(value)


def run_validate(args, config) -> int:
    folder = _folder(config, args.folder)
    man = store.validate(folder, config.snapshot.validate_sample)
    print(f"{folder}: valid ({', '.join(f'{k} {v:,}' for k, v in man['counts'].items())})")
    return 0


def run_publish(args, config) -> int:
    name = args.name or (store.snapshots(root_of(config)) or [None])[-1]
    if name is None:
        raise SnapshotError(f"no finished snapshot under {root_of(config)}: run `recs snapshot build` first")
    print(json.dumps(publish(config, name)))
    return 0


def run_rollback(args, config) -> int:
    print(json.dumps(store.rollback(root_of(config), config.snapshot.validate_sample)))
    return 0


def run_list(args, config) -> int:
    live = store.current(root_of(config))
    for name in store.snapshots(root_of(config)):
        print(("* " if name == live else "  ") + name)
    return 0


def run_push(args, config) -> int:
    name = args.name or store.current(root_of(config))
    if not name:
        raise ExportError("nothing is published: name a snapshot to push")
    print(json.dumps(s3.push(root_of(config) / name, config.s3), indent=2))
    return 0


def run_pull(args, config) -> int:
    result = s3.pull(root_of(config), config.s3, args.name)
    if not args.no_activate:
        result["published"] = publish(config, result["name"])
    print(json.dumps(result, indent=2))
    return 0
