"""Writing a snapshot folder without Spark: the build's lifecycle, and a plain writer for small snapshots.

Every build (this plain writer, or the Spark builder in export/builder.py) goes through the same
steps: `begin()` picks {snapshots}/.building-<name>-<pid>/ (removing builds whose process died),
the database is filled there, and `finish()` writes MANIFEST.json and renames the folder to
{snapshots}/<run_date>-<digest>/. A build that dies halfway leaves a dot-folder that nothing serves
and CURRENT untouched. A live snapshot of the same name is never rebuilt: it never changes once live.

`write()` fills every column family from plain Python values: the snapshots of tests, tools and
small shops, with the codec and layout of the Spark builder.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from rocksdict import Rdict, WriteBatch

from export import codec, manifest
from export.format import (
    BUILDING_PREFIX,
    COLUMN_FAMILIES,
    LIST_FAMILIES,
    SnapshotError,
    current,
    owner_alive,
    rocks_options,
    snapshot_name,
)

log = logging.getLogger(__name__)


def begin(root: Path, run_date: dt.date, digest: str) -> tuple[Path, Path | None]:
    """(final folder, work folder) of a new build; work is None when the same snapshot is already live."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = snapshot_name(run_date, digest)
    final = root / name
    if final.exists():
        if current(root) == name:
            log.info("snapshot %s is live and is never changed: nothing to rebuild", name)
            return final, None
        shutil.rmtree(final)
    remove_stale_builds(root)
    work = root / f"{BUILDING_PREFIX}{name}-{os.getpid()}"
    work.mkdir()
    return final, work


def remove_stale_builds(root: Path) -> None:
    for stale in Path(root).glob(BUILDING_PREFIX + "*"):
        if not owner_alive(stale.name):
            log.warning("removing the unfinished build %s", stale)
            shutil.rmtree(stale, ignore_errors=True)


def open_new(work: Path):
    """A new database with every column family, in the work folder."""
    return Rdict(str(work / "db"), rocks_options(), column_families={cf: rocks_options() for cf in COLUMN_FAMILIES})


def write_meta(db, meta: Mapping[str, object]) -> int:
    """The `meta` family: key -> codec metadata (a dict, or {"value": v})."""
    family = db.get_column_family("meta")
    for key, value in meta.items():
        family[key.encode()] = codec.encode_meta(value if isinstance(value, dict) else {"value": value})
    return len(meta)


def finish(work: Path, final: Path, run_date: dt.date, digest: str, counts: dict[str, int],
           metrics: dict | None) -> Path:
    """Write the manifest into the closed build and rename it to its final name."""
    shutil.rmtree(work / "staging", ignore_errors=True)
    manifest.write(work, run_date, digest, counts, metrics)
    work.rename(final)
    log.info("snapshot %s built: %s", final.name, counts)
    return final


Lists = Mapping[str, Iterable[tuple[str, float, str]]]   # key -> entries (item_id, score, reason), best first


def write(root: Path, run_date: dt.date, digest: str, lists: Mapping[str, Lists], item_meta: Mapping[str, dict],
          meta: Mapping[str, object], list_length: int, metrics: dict | None = None) -> Path:
    """Build <root>/<run_date>-<digest>/ from plain values and return its folder.

    Args:
        lists: column family -> {key: [(item_id, score, reason), ...]}, for every LIST_FAMILIES name.
        item_meta: item id -> its catalog fields.
        meta: small snapshot metadata (the `meta` family).
        list_length: entries kept per list.
    """
    missing = sorted(set(LIST_FAMILIES) - set(lists))
    if missing:
        raise SnapshotError(f"no rows for column families {missing}")
    final, work = begin(root, run_date, digest)
    if work is None:
        return final
    db = open_new(work)
    counts = {}
    try:
        values = {cf: {key: codec.encode_list(list(entries)[:list_length]) for key, entries in lists[cf].items()}
                  for cf in LIST_FAMILIES}
        values["item_meta"] = {key: codec.encode_meta(fields) for key, fields in item_meta.items()}
        for cf, rows in values.items():
            batch, handle = WriteBatch(raw_mode=True), db.get_column_family_handle(cf)
            for key in sorted(rows):
                batch.put(key.encode("utf-8"), rows[key], handle)
            db.write(batch)
            counts[cf] = len(rows)
        counts["meta"] = write_meta(db, meta)
        db.flush()
    finally:
        db.close()
    return finish(work, final, run_date, digest, counts, metrics)
