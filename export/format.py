"""The snapshot format: what a snapshot folder holds and how it is opened. Spark-free.

The contract between the writers (export/writer.py, the Spark builder export/builder.py) and
the readers (export/store.py, lookup_server/):

    {snapshots}/<run_date>-<digest>/db/          RocksDB, one column family per answer kind
    {snapshots}/<run_date>-<digest>/MANIFEST.json  (export/manifest.py), written last
    {snapshots}/CURRENT                          the live snapshot's name (atomic rename)
    {snapshots}/.building-<name>-<pid>/          a build in progress: never served

Keys are ids as UTF-8 bytes; list values and metadata values use export/codec.py. The
`popular` family is keyed "<list>:<scope>" ("recent:all", "trending:Home", "country:UK").
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

from rocksdict import AccessType, IngestExternalFileOptions, Options, Rdict

LIST_FAMILIES = ("user_recs", "similar", "fbt", "popular")
COLUMN_FAMILIES = (*LIST_FAMILIES, "item_meta", "meta")
BUILDING_PREFIX = ".building-"
CURRENT = "CURRENT"
HISTORY = "HISTORY"
NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.\-]{0,199}", re.ASCII)    # a snapshot folder's name


class SnapshotError(RuntimeError):
    """A snapshot cannot be built, validated, published or rolled back; the message says why."""


def snapshot_name(run_date: dt.date, digest: str) -> str:
    return f"{run_date.isoformat()}-{digest}"


POPULAR_KEY_SEPARATOR = ":"
CONTENT_REASON = "similar_content"   # a "similar" entry found by content alone (no co-occurrence evidence)


def popular_key(list_name: str, scope: str) -> str:
    """The `popular` family's key of one list: "recent:all", "trending:Home > Kitchen", ..."""
    return f"{list_name}{POPULAR_KEY_SEPARATOR}{scope}"


def current(root: Path) -> str | None:
    """The live snapshot's name under root (None: nothing is published); SnapshotError when CURRENT holds
    anything but a snapshot name (binary junk, another path)."""
    path = Path(root) / CURRENT
    if not path.is_file():
        return None
    try:
        name = path.read_bytes().decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SnapshotError(f"{path} is not UTF-8 text; point it at a snapshot with `recs snapshot publish NAME`") \
            from None
    if name and (not NAME.fullmatch(name) or ".." in name):
        raise SnapshotError(f"{path} holds {name[:60]!r}, not a snapshot name; point it at a snapshot with "
                            "`recs snapshot publish NAME`")
    return name or None


def is_name(name: str) -> bool:
    """Whether `name` can be a snapshot folder under the root (no path, no dot-folder, no '..')."""
    return bool(NAME.fullmatch(name)) and ".." not in name


def rocks_options(create: bool = True):
    """RocksDB options of every snapshot database and column family (raw bytes, no pickling)."""
    options = Options(raw_mode=True)
    options.create_if_missing(create)
    options.create_missing_column_families(create)
    return options


def ingest_options():
    """Move (hard-link) the SST files into the database instead of copying them."""
    options = IngestExternalFileOptions()
    options.set_move_files(True)
    return options


def open_read_only(folder: Path, families=COLUMN_FAMILIES):
    """The snapshot's database, read-only, with the given column families open."""
    return Rdict(str(Path(folder) / "db"), rocks_options(create=False), access_type=AccessType.read_only(),
                 column_families={cf: rocks_options(create=False) for cf in families})


def owner_alive(folder_name: str) -> bool:
    """Whether the process that named a .building-<name>-<pid> folder still runs."""
    try:
        return pid_alive(int(folder_name.rsplit("-", 1)[1]))
    except (ValueError, IndexError):
        return False


def pid_alive(pid: int) -> bool:
    """Whether a process of this id runs (on this host)."""
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
