"""Build a snapshot: the run's Parquet outputs -> RocksDB (one column family per answer kind) + MANIFEST.json.

Rows reach the builder as DataFrames of (key, item_id, score, reason, rank) per list
column family and (key, fields JSON) for item_meta. Spark groups each key's rows into
one encoded value (export/codec.py). A column family of at least snapshot.sst_min_keys
keys is range-partitioned and sorted by key in Spark; each partition writes one sorted
SST file (rocksdict SstFileWriter) and the builder ingests them all at once. Smaller
ones are streamed to the driver a partition at a time (toLocalIterator) and written in
batches. On a cluster the staging folder must be on a file system the executors and
the driver share.

Everything is written into {snapshots}/.building-<name>-<pid>/ and renamed to
{snapshots}/<run_date>-<digest>/ only once the database is closed and the manifest is
written, so a build that dies halfway leaves a dot-folder that nothing serves (the next
build removes it) and CURRENT untouched. A live snapshot of the same name (same run date,
configuration and inputs) is left as it is: a snapshot never changes once live.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from export import codec, manifest

log = logging.getLogger(__name__)
LIST_FAMILIES = ("user_recs", "similar", "fbt", "popular")
COLUMN_FAMILIES = (*LIST_FAMILIES, "item_meta", "meta")
BUILDING_PREFIX = ".building-"
ENCODED_DDL = "key binary, value binary"
BATCH = 10_000


class SnapshotError(RuntimeError):
    """A snapshot cannot be built, validated, published or rolled back; the message says why."""


def rocks_options(create: bool = True):
    from rocksdict import Options

    options = Options(raw_mode=True)
    options.create_if_missing(create)
    options.create_missing_column_families(create)
    return options


def ingest_options():
    """Move (hard-link) the SST files into the database instead of copying them."""
    from rocksdict import IngestExternalFileOptions

    options = IngestExternalFileOptions()
    options.set_move_files(True)
    return options


def encode_lists(rows: DataFrame, list_length: int) -> DataFrame:
    """key (UTF-8 bytes), value (codec list) from (key, item_id, score, reason, rank) rows."""
    grouped = rows.groupBy("key").agg(F.sort_array(F.collect_list(F.struct("rank", "item_id", "score", "reason")))
                                      .alias("entries"))

    def encode(batches):
        for batch in batches:
            values = [codec.encode_list((e["item_id"], e["score"], e["reason"]) for e in entries[:list_length])
                      for entries in batch["entries"]]
            yield pd.DataFrame({"key": [k.encode("utf-8") for k in batch["key"]], "value": values})

    return grouped.mapInPandas(encode, ENCODED_DDL)


def encode_fields(rows: DataFrame) -> DataFrame:
    """key, value (codec metadata) from (key, fields JSON string) rows."""
    import json

    def encode(batches):
        for batch in batches:
            yield pd.DataFrame({"key": [k.encode("utf-8") for k in batch["key"]],
                                "value": [codec.encode_meta(json.loads(f)) for f in batch["fields"]]})

    return rows.select("key", "fields").mapInPandas(encode, ENCODED_DDL)


def write_sst_files(encoded: DataFrame, staging: Path, partitions: int) -> list[tuple[str, int]]:
    """Sorted SST files, one per key range, written by the executors; returns (path, keys) of non-empty ones."""
    staging.mkdir(parents=True, exist_ok=True)
    folder = str(staging)

    def write(batches):
        from pyspark import TaskContext
        from rocksdict import SstFileWriter

        path = f"{folder}/part-{TaskContext.get().partitionId():05d}.sst"
        writer, count = None, 0
        for batch in batches:
            for key, value in zip(batch["key"], batch["value"]):
                if writer is None:
                    writer = SstFileWriter(options=rocks_options())
                    writer.open(path)
                writer[bytes(key)] = bytes(value)
                count += 1
        if writer is not None:
            writer.finish()
            yield pd.DataFrame({"path": [path], "keys": [count]})

    ordered = encoded.repartitionByRange(partitions, "key").sortWithinPartitions("key")
    files = ordered.mapInPandas(write, "path string, keys long").collect()   # one small row per file
    return sorted((r.path, r.keys) for r in files)


def write_family(db, name: str, encoded: DataFrame, staging: Path, settings) -> int:
    """Fill one column family; SST bulk load at scale, batched puts below; returns its key count."""
    from rocksdict import WriteBatch

    family = db.get_column_family(name)
    keys = encoded.count()
    if keys >= settings.sst_min_keys and keys > 0:
        files = write_sst_files(encoded, staging / name, settings.sst_partitions)
        family.ingest_external_file([path for path, _ in files], ingest_options())
        shutil.rmtree(staging / name, ignore_errors=True)
        log.info("snapshot %s: %d keys bulk-loaded from %d SST file(s)", name, keys, len(files))
        return keys
    handle = db.get_column_family_handle(name)
    batch, written = WriteBatch(raw_mode=True), 0
    for row in encoded.toLocalIterator():
        batch.put(bytes(row.key), bytes(row.value), handle)
        written += 1
        if written % BATCH == 0:
            db.write(batch)
            batch = WriteBatch(raw_mode=True)
    db.write(batch)
    return written


def inputs_digest(config_digest: str, inputs: dict[str, str]) -> str:
    """12 hex digits over the effective config's digest and the names of the input datasets."""
    text = config_digest + "|" + "|".join(f"{k}={v}" for k, v in sorted(inputs.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build(spark: SparkSession, root: Path, run_date: dt.date, digest: str, lists: dict[str, DataFrame],
          item_meta: DataFrame, meta: dict, settings, metrics: dict | None = None) -> Path:
    """Build <root>/<run_date>-<digest>/ and return its path (see the module doc).

    Args:
        lists: column family -> rows (key, item_id, score, reason, rank), for every LIST_FAMILIES name.
        item_meta: rows (key, fields) with fields a JSON object string.
        meta: small snapshot metadata (written into the `meta` column family as key -> JSON).
        settings: the `snapshot` section.
    """
    from rocksdict import Rdict

    missing = sorted(set(LIST_FAMILIES) - set(lists))
    if missing:
        raise SnapshotError(f"no rows for column families {missing}")
    root.mkdir(parents=True, exist_ok=True)
    name = f"{run_date.isoformat()}-{digest}"
    final = root / name
    if final.exists():
        from export import store

        if store.current(root) == name:
            # same run date, configuration and inputs: the live snapshot already holds this build
            log.info("snapshot %s is live and is never changed: nothing to rebuild", name)
            return final
        shutil.rmtree(final)
    for stale in root.glob(BUILDING_PREFIX + "*"):
        if not owner_alive(stale.name):
            log.warning("removing the unfinished build %s", stale)
            shutil.rmtree(stale, ignore_errors=True)
    work = root / f"{BUILDING_PREFIX}{name}-{os.getpid()}"
    work.mkdir()
    options = rocks_options()
    families = {cf: rocks_options() for cf in COLUMN_FAMILIES}
    db = Rdict(str(work / "db"), options, column_families=families)
    counts = {}
    try:
        for cf in LIST_FAMILIES:
            counts[cf] = write_family(db, cf, encode_lists(lists[cf], settings.list_length), work / "staging",
                                      settings)
        counts["item_meta"] = write_family(db, "item_meta", encode_fields(item_meta), work / "staging", settings)
        meta_family = db.get_column_family("meta")
        for key, value in meta.items():
            meta_family[key.encode()] = codec.encode_meta(value if isinstance(value, dict) else {"value": value})
        counts["meta"] = len(meta)
        db.flush()
    finally:
        db.close()
    shutil.rmtree(work / "staging", ignore_errors=True)
    manifest.write(work, run_date, digest, counts, metrics)
    work.rename(final)
    log.info("snapshot %s built: %s", name, counts)
    return final


def owner_alive(folder_name: str) -> bool:
    """Whether the process that named a .building-<name>-<pid> folder still runs."""
    try:
        pid = int(folder_name.rsplit("-", 1)[1])
        os.kill(pid, 0)
        return True
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
