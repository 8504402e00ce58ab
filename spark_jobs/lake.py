"""Where each dataset of a run lives, and the few file-system operations the jobs need.

Everything goes through Hadoop's FileSystem so that local paths, file://, hdfs:// and
s3a:// behave the same.
"""

from __future__ import annotations

import datetime as dt
import json
import re

DT_PATTERN = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")


def partition(root: str, dataset: str, run_date: dt.date) -> str:
    """`{root}/{dataset}/dt=YYYY-MM-DD`."""
    return f"{root.rstrip('/')}/{dataset}/dt={run_date.isoformat()}"


def curated(lake: str, dataset: str, run_date: dt.date | None = None) -> str:
    """A curated dataset, or one date partition of it: `{lake}/curated/{dataset}[/dt=...]`."""
    base = f"{lake.rstrip('/')}/curated"
    return partition(base, dataset, run_date) if run_date else f"{base}/{dataset}"


def quarantine(lake: str, dataset: str, run_date: dt.date) -> str:
    """Rows of `dataset` rejected on `run_date`: `{lake}/quarantine/{dataset}/dt=...`."""
    return partition(f"{lake.rstrip('/')}/quarantine", dataset, run_date)


def report(lake: str, job: str, run_date: dt.date) -> str:
    """The JSON report a job writes for `run_date`."""
    return partition(f"{lake.rstrip('/')}/reports", job, run_date) + "/report.json"


def _fs(spark, path: str):
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath


def exists(spark, path: str) -> bool:
    """True when `path` exists (file or folder)."""
    fs, hpath = _fs(spark, path)
    return bool(fs.exists(hpath))


def list_dates(spark, folder: str) -> list[dt.date]:
    """Dates of the `dt=YYYY-MM-DD` sub-folders of `folder`, sorted; [] when it does not exist."""
    fs, hpath = _fs(spark, folder)
    if not fs.exists(hpath):
        return []
    dates = []
    for status in fs.listStatus(hpath):
        match = DT_PATTERN.match(status.getPath().getName())
        if status.isDirectory() and match:
            dates.append(dt.date.fromisoformat(match.group(1)))
    return sorted(dates)


def list_files(spark, folder: str) -> list[str]:
    """Data files directly in `folder` (hidden and `_`-prefixed names skipped), sorted."""
    fs, hpath = _fs(spark, folder)
    if not fs.exists(hpath):
        return []
    names = []
    for status in fs.listStatus(hpath):
        name = status.getPath().getName()
        if status.isFile() and not name.startswith((".", "_")):
            names.append(status.getPath().toString())
    return sorted(names)


def write_json(spark, path: str, payload: dict) -> None:
    """Write `payload` as indented JSON to `path`, replacing it."""
    write_bytes(spark, path, json.dumps(payload, indent=2, sort_keys=True).encode())


def write_bytes(spark, path: str, data: bytes) -> None:
    """Write `data` to `path` (a small file: a report, a plot), replacing it."""
    fs, hpath = _fs(spark, path)
    stream = fs.create(hpath, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def read_json(spark, path: str) -> dict | None:
    """The JSON object at `path`, or None when it does not exist."""
    fs, hpath = _fs(spark, path)
    if not fs.exists(hpath):
        return None
    stream = fs.open(hpath)
    reader = spark.sparkContext._jvm.java.io.BufferedReader(spark.sparkContext._jvm.java.io.InputStreamReader(stream))
    try:
        return json.loads("\n".join(iter(reader.readLine, None)))
    finally:
        reader.close()


def delete(spark, path: str) -> None:
    """Remove `path` (recursively) if it exists."""
    fs, hpath = _fs(spark, path)
    if fs.exists(hpath):
        fs.delete(hpath, True)


def copy(spark, source: str, target: str) -> None:
    """Copy the folder or file `source` to `target` (same file system)."""
    fs, src = _fs(spark, source)
    _, dst = _fs(spark, target)
    jvm = spark.sparkContext._jvm
    jvm.org.apache.hadoop.fs.FileUtil.copy(fs, src, fs, dst, False, spark.sparkContext._jsc.hadoopConfiguration())


def write_partition(df, path: str, files: int, sort_by: list[str]) -> None:
    """Overwrite one date partition with `df` as Parquet, laid out deterministically.

    Rows are hash-partitioned on the first sort column into `files` files and sorted
    within each, so a rerun on the same input writes the same rows to the same files.
    """
    (df.repartition(files, sort_by[0])
       .sortWithinPartitions(*sort_by)
       .write.mode("overwrite")
       .parquet(path))


def write_item_pairs(spark, lake_root: str, job: str, run_date, pairs, files: int, digest: str) -> dict:
    """Write an (item_id, ..., rank) table of a model job for run_date, then its report: pairs, items and the
    config digest it was computed with (the ranking step reuses the table only under the same one)."""
    from pyspark.sql import functions as F

    out = curated(lake_root, job, run_date)
    write_partition(pairs, out, files, ["item_id", "rank"])
    written = spark.read.parquet(out).agg(F.count(F.lit(1)).alias("pairs"),
                                          F.countDistinct("item_id").alias("items")).first()
    summary = {"job": job, "run_date": run_date.isoformat(), "output": out, **written.asDict(),
               "config_digest": digest}
    write_json(spark, report(lake_root, job, run_date), summary)
    return summary
