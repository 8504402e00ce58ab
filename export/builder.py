"""Build a snapshot with Spark: the run's Parquet outputs -> RocksDB (one column family per answer kind).

Rows reach the builder as DataFrames of (key, item_id, score, reason, rank) per list
column family and (key, fields JSON) for item_meta. Spark groups each key's rows into
one encoded value (export/codec.py). A column family of at least snapshot.sst_min_keys
keys is range-partitioned and sorted by key in Spark; each partition writes one sorted
SST file (rocksdict SstFileWriter) and the builder ingests them all at once. Smaller
ones are streamed to the driver a partition at a time (toLocalIterator) and written in
batches. On a cluster the staging folder must be on a file system the executors and
the driver share.

The folder layout, the build's lifecycle (a dot-folder renamed once the manifest is
written; a live snapshot never rebuilt) and the options come from the Spark-free
export/format.py and export/writer.py, which the readers share.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
from pathlib import Path

import pandas as pd
from pyspark import TaskContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from rocksdict import WriteBatch

from export import codec, writer
from export.format import LIST_FAMILIES, SnapshotError, ingest_options, rocks_options

log = logging.getLogger(__name__)
ENCODED_DDL = "key binary, value binary"
BATCH = 10_000


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
        from rocksdict import SstFileWriter  # imported on the executor: the class does not pickle with the closure

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
    missing = sorted(set(LIST_FAMILIES) - set(lists))
    if missing:
        raise SnapshotError(f"no rows for column families {missing}")
    final, work = writer.begin(root, run_date, digest)
    if work is None:
        return final
    db = writer.open_new(work)
    counts = {}
    try:
        for cf in LIST_FAMILIES:
            counts[cf] = write_family(db, cf, encode_lists(lists[cf], settings.list_length), work / "staging",
                                      settings)
        counts["item_meta"] = write_family(db, "item_meta", encode_fields(item_meta), work / "staging", settings)
        counts["meta"] = writer.write_meta(db, meta)
        db.flush()
    finally:
        db.close()
    return writer.finish(work, final, run_date, digest, counts, metrics)
