"""Read one raw partition (JSONL, CSV or Parquet; plain or gzipped) into string columns.

Every canonical column comes back as a string, whatever the file said, so that
validation can tell "non-numeric" from "missing"; the row's own text is kept in
`_raw` and a parse failure is flagged in `_corrupt`, for the quarantine.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_jobs import lake
from spark_jobs.columns import CORRUPT, RAW_RECORD, SOURCE_FILE

log = logging.getLogger(__name__)

EXTENSIONS = {
    "jsonl": (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson", ".ndjson.gz"),
    "csv": (".csv", ".csv.gz", ".tsv", ".tsv.gz"),
    "parquet": (".parquet", ".snappy.parquet", ".zstd.parquet"),
}


class RawInputError(ValueError):
    """A raw partition cannot be read as a whole (missing, mixed formats, missing columns)."""


def detect_format(files: list[str], folder: str) -> str:
    """The one format shared by every file in `files`, from their extensions."""
    found = set()
    for name in files:
        fmt = next((f for f, exts in EXTENSIONS.items() if name.lower().endswith(exts)), None)
        if fmt is None:
            raise RawInputError(f"{name}: unknown file type; expected one of {sorted(sum(EXTENSIONS.values(), ()))}")
        found.add(fmt)
    if len(found) != 1:
        raise RawInputError(f"{folder} mixes formats {sorted(found)}; keep one format per partition")
    return found.pop()


def read_raw(spark: SparkSession, folders: str | list[str], columns: tuple[str, ...], required: tuple[str, ...],
             fmt: str = "auto") -> DataFrame:
    """Read every data file in `folders` as string columns plus _raw, _corrupt and source_file.

    Args:
        spark: the session.
        folders: one raw partition, e.g. {raw}/events/dt=2026-11-01, or several.
        columns: canonical columns to return (absent optional ones come back null).
        required: columns the input must have (for CSV and Parquet: in the header or schema).
        fmt: "jsonl", "csv", "parquet" or "auto" (by file extension).

    Raises:
        RawInputError: the folder has no data files, mixes formats, or lacks a required column.
    """
    folders = [folders] if isinstance(folders, str) else folders
    folder = folders[0] if len(folders) == 1 else f"{len(folders)} partitions from {folders[0]}"
    files = [name for path in folders for name in lake.list_files(spark, path)]
    if not files:
        raise RawInputError(f"no input files in {folder}: check paths.raw and the run date")
    if fmt == "auto":
        fmt = detect_format(files, folder)
    log.info("reading %d %s file(s) from %s", len(files), fmt, folder)
    reader = {"jsonl": _read_jsonl, "csv": _read_csv, "parquet": _read_parquet}[fmt]
    return reader(spark, files, columns, required, folder)


def _string_schema(names) -> T.StructType:
    return T.StructType([T.StructField(name, T.StringType(), True) for name in names])


def _read_jsonl(spark, files, columns, required, folder) -> DataFrame:
    schema = _string_schema(columns).add(CORRUPT, T.StringType(), True)
    lines = spark.read.text(files).withColumn(SOURCE_FILE, F.input_file_name())
    parsed = F.from_json("value", schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT})
    # An empty line parses to null: it is a row that could not be read, like any other.
    corrupt = F.when(parsed.isNull(), F.col("value")).otherwise(parsed[CORRUPT])
    return lines.select(
        *[parsed[c].alias(c) for c in columns],
        F.col("value").alias(RAW_RECORD), corrupt.alias(CORRUPT), SOURCE_FILE,
    )


def _read_csv(spark, files, columns, required, folder) -> DataFrame:
    """CSV with a header. Every file of one read must share the first file's header."""
    options = {"header": "true", "quote": '"', "escape": '"', "mode": "PERMISSIVE",
               "columnNameOfCorruptRecord": CORRUPT}
    header = spark.read.options(header="true").csv(files[0]).columns
    _check_required(header, required, folder)
    # Read by the header's own order, then keep the canonical columns by name.
    schema = _string_schema(header).add(CORRUPT, T.StringType(), True)
    df = spark.read.options(**options).schema(schema).csv(files).withColumn(SOURCE_FILE, F.input_file_name())
    return _canonical(df, columns, header)


def _read_parquet(spark, files, columns, required, folder) -> DataFrame:
    df = spark.read.parquet(*files)
    _check_required(df.columns, required, folder)
    df = df.select(*[F.col(c).cast("string").alias(c) for c in df.columns if c in columns])
    df = df.withColumn(CORRUPT, F.lit(None).cast("string")).withColumn(SOURCE_FILE, F.input_file_name())
    return _canonical(df, columns, df.columns)


def _canonical(df: DataFrame, columns, present) -> DataFrame:
    """Canonical columns in order (missing ones null) and _raw as the row's JSON when unset."""
    selected = [F.col(c) if c in present else F.lit(None).cast("string").alias(c) for c in columns]
    raw = F.coalesce(F.col(CORRUPT), F.to_json(F.struct(*[F.col(c) for c in columns if c in present])))
    return df.select(*selected, raw.alias(RAW_RECORD), F.col(CORRUPT), F.col(SOURCE_FILE))


def _check_required(present, required, folder) -> None:
    missing = [c for c in required if c not in present]
    if missing:
        raise RawInputError(f"{folder} lacks required column(s) {missing}; it has {list(present)}")
