"""Ingest one run date: validate raw events and catalog, dedupe, write curated and quarantine.

Reads  {raw}/events/dt=D/ and the catalog: the latest earlier {lake}/curated/catalog/dt=P/
       updated with {raw}/catalog/dt in (P, D], or, without one, every {raw}/catalog/dt<=D/
       replayed (the latest row per item wins).
Writes {lake}/curated/events/dt=D/, {lake}/curated/catalog/dt=D/,
       {lake}/quarantine/{events,catalog}/dt=D/ (reason, record, source_file) and
       {lake}/reports/ingest/dt=D/report.json (counts per reason).
Fails, after writing the quarantine and the report but before the curated data, when
the quarantined share of events or catalog rows passes ingest.max_bad_share.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from conf import Config
from spark_jobs import lake
from spark_jobs.columns import (
    CATALOG_INPUT,
    CATALOG_REQUIRED,
    CATALOG_SCHEMA,
    CORRUPT,
    EVENT_INPUT,
    EVENT_REQUIRED,
    EVENTS_SCHEMA,
    QUARANTINE_SCHEMA,
    RAW_RECORD,
    REASON,
    SOURCE_FILE,
)
from spark_jobs.raw_input import RawInputError, read_raw
from spark_jobs.validation import SUPERSEDED, validate_catalog, validate_events

log = logging.getLogger(__name__)


PREVIOUS_CATALOG = "previous curated catalog"  # source_file of rows carried from yesterday


class IngestError(RuntimeError):
    """The run date cannot be ingested; the message says why and where to look."""


@dataclass
class IngestResult:
    """The DataFrames one ingest produces (see transform)."""

    labelled_events: DataFrame
    labelled_catalog: DataFrame

    @property
    def events(self) -> DataFrame:
        """Curated events (columns.EVENTS_SCHEMA)."""
        return self.labelled_events.filter(F.col(REASON).isNull()).select(*EVENTS_SCHEMA.fieldNames())

    @property
    def events_quarantine(self) -> DataFrame:
        """Rejected event rows: reason, record, source_file."""
        return self.labelled_events.filter(F.col(REASON).isNotNull()).select(*QUARANTINE_SCHEMA.fieldNames())

    @property
    def catalog(self) -> DataFrame:
        """One row per item as of the run date (columns.CATALOG_SCHEMA)."""
        return self.labelled_catalog.filter(F.col(REASON).isNull()).select(*CATALOG_SCHEMA.fieldNames())

    @property
    def catalog_quarantine(self) -> DataFrame:
        """Rejected catalog rows (superseded versions are not rejections)."""
        bad = F.col(REASON).isNotNull() & (F.col(REASON) != SUPERSEDED)
        return self.labelled_catalog.filter(bad).select(*QUARANTINE_SCHEMA.fieldNames())


def transform(raw_events: DataFrame, raw_catalog: DataFrame, run_date: dt.date,
              previous_catalog: DataFrame | None = None) -> IngestResult:
    """Validate and dedupe one date's raw events, and resolve the catalog as of that date.

    Args:
        raw_events: string columns from raw_input.read_raw for {raw}/events/dt=run_date.
        raw_catalog: the same for catalog partitions (with a `dt` column): those after
            previous_catalog's date when it is given, else every partition up to the run date.
        run_date: the run's date.
        previous_catalog: the latest curated catalog before the run date, if there is one.

    Returns:
        IngestResult: every input row labelled with its reason (null = kept), and views of
        the curated and quarantined rows.
    """
    if previous_catalog is not None:
        carried = previous_catalog.select(
            *[F.col(c).cast("string") for c in CATALOG_INPUT],
            F.lit(None).cast("string").alias("dt"),
            F.lit(None).cast("string").alias(CORRUPT),
            F.to_json(F.struct(*CATALOG_INPUT)).alias(RAW_RECORD),
            F.lit(PREVIOUS_CATALOG).alias(SOURCE_FILE),
        )
        raw_catalog = raw_catalog.unionByName(carried)
    return IngestResult(validate_events(raw_events, run_date), validate_catalog(raw_catalog))


def read_catalog_input(spark: SparkSession, config: Config, run_date: dt.date) -> tuple[DataFrame, DataFrame | None]:
    """Raw catalog rows to apply, and the latest curated catalog before the run date, if any.

    With an earlier curated catalog (dt=P), only raw partitions with P < dt <= run date are
    read and applied on top of it; without one (a first run) every raw partition up to the
    run date is replayed. Both give the same catalog.
    """
    root = f"{config.paths.raw.rstrip('/')}/catalog"
    dates = [d for d in lake.list_dates(spark, root) if d <= run_date]
    earlier = [d for d in lake.list_dates(spark, lake.curated(config.paths.lake, "catalog")) if d < run_date]
    previous = None
    if earlier:
        previous = spark.read.parquet(lake.curated(config.paths.lake, "catalog", earlier[-1]))
        dates = [d for d in dates if d > earlier[-1]]
    elif not dates:
        raise IngestError(f"no catalog partition on or before {run_date} under {root}")
    if not dates:
        empty = spark.createDataFrame([], ", ".join(f"{c} string" for c in (*CATALOG_INPUT, RAW_RECORD, CORRUPT,
                                                                            SOURCE_FILE, "dt")))
        return empty, previous
    folders = [lake.partition(config.paths.raw, "catalog", d) for d in dates]
    raw = read_raw(spark, folders, CATALOG_INPUT, CATALOG_REQUIRED, config.ingest.catalog_format)
    return raw.withColumn("dt", F.regexp_extract(SOURCE_FILE, r"dt=(\d{4}-\d{2}-\d{2})", 1)), previous


def count_by_reason(labelled: DataFrame, flag: Column) -> tuple[dict[str | None, int], int]:
    """Input rows per reason code (None for kept rows), and the kept rows for which `flag` holds.

    Rows with SOURCE_FILE == PREVIOUS_CATALOG are not input and count in the second figure
    only. One Spark job; a handful of rows reach the driver.
    """
    carried = (F.col(SOURCE_FILE) == PREVIOUS_CATALOG).alias("carried")
    counts: dict[str | None, int] = {}
    flagged = 0
    for row in labelled.groupBy(REASON, carried, flag.alias("flag")).count().collect():
        flagged += row["count"] if row[REASON] is None and row["flag"] else 0
        if not row["carried"]:
            counts[row[REASON]] = counts.get(row[REASON], 0) + row["count"]
    return counts, flagged


def summary(counts: dict[str | None, int], limit: float) -> dict:
    """Counts of one input: rows in, kept, quarantined (by reason) and whether the share passes."""
    by_reason = {k: v for k, v in counts.items() if k not in (None, SUPERSEDED)}
    rows_in = sum(counts.values())
    bad = sum(by_reason.values())
    share = bad / rows_in if rows_in else 0.0
    return {
        "rows_in": rows_in,
        "rows_kept": counts.get(None, 0),
        "rows_superseded": counts.get(SUPERSEDED, 0),
        "rows_quarantined": bad,
        "bad_share": round(share, 6),
        "by_reason": dict(sorted(by_reason.items())),
        "over_limit": share > limit,
    }


def main(spark: SparkSession, config: Config, run_date: dt.date) -> dict:
    """Ingest `run_date`; return the report (also written next to the outputs).

    Raises:
        IngestError: the input is missing or unreadable, or too many rows are bad.
    """
    paths = config.paths
    events_in = lake.partition(paths.raw, "events", run_date)
    try:
        raw_events = read_raw(spark, events_in, EVENT_INPUT, EVENT_REQUIRED, config.ingest.events_format)
        raw_catalog, previous_catalog = read_catalog_input(spark, config, run_date)
    except RawInputError as err:
        raise IngestError(str(err)) from None
    result = transform(raw_events, raw_catalog, run_date, previous_catalog)
    # Labelled rows feed the counts and every write below: compute them once.
    events, catalog = result.labelled_events.cache(), result.labelled_catalog.cache()

    out = {
        "events_quarantine": lake.quarantine(paths.lake, "events", run_date),
        "catalog_quarantine": lake.quarantine(paths.lake, "catalog", run_date),
        "events": lake.curated(paths.lake, "events", run_date),
        "catalog": lake.curated(paths.lake, "catalog", run_date),
        "report": lake.report(paths.lake, "ingest", run_date),
    }
    limit = config.ingest.max_bad_share
    report = {
        "job": "ingest",
        "run_date": run_date.isoformat(),
        "input": {"events": events_in, "catalog": f"{paths.raw.rstrip('/')}/catalog/dt<={run_date}",
                  "catalog_mode": "incremental" if previous_catalog is not None else "full replay"},
        "output": out,
        "max_bad_share": limit,
    }
    catalog_counts, items = count_by_reason(catalog, F.lit(True))
    known = result.catalog.select("item_id", F.lit(True).alias("_known"))
    event_counts, unknown = count_by_reason(events.join(F.broadcast(known), "item_id", "left"),
                                            F.col("_known").isNull())
    report["events"] = {**summary(event_counts, limit), "events_with_unknown_item": unknown}
    report["catalog"] = {**summary(catalog_counts, limit), "items": items}
    # Quarantine first: it is what a user reads when the run fails.
    for name, frame in (("events_quarantine", result.events_quarantine),
                        ("catalog_quarantine", result.catalog_quarantine)):
        frame.coalesce(1).sortWithinPartitions(REASON, "record").write.mode("overwrite").parquet(out[name])
    failed = [name for name in ("events", "catalog") if report[name]["over_limit"]]
    if not failed:
        lake.write_partition(result.events, out["events"], config.ingest.output_files,
                             ["user_id", "event_time", "event_id"])
        lake.write_partition(result.catalog, out["catalog"], 1, ["item_id"])
    report["status"] = "failed" if failed else "ok"
    lake.write_json(spark, out["report"], report)
    events.unpersist()
    catalog.unpersist()
    if failed:
        details = "; ".join(
            f"{name}: {report[name]['rows_quarantined']} of {report[name]['rows_in']} rows "
            f"({report[name]['bad_share']:.1%}) quarantined, by reason {report[name]['by_reason']}"
            for name in failed)
        raise IngestError(
            f"ingest {run_date} failed: {details}; above ingest.max_bad_share={limit:.1%}. "
            f"Nothing was written to curated/. Inspect {out['events_quarantine']} and {out['report']}, "
            f"fix the input, or raise the limit (RECS_INGEST__MAX_BAD_SHARE).")
    log.info("ingest %s: %d events kept, %d quarantined", run_date,
             report["events"]["rows_kept"], report["events"]["rows_quarantined"])
    return report


def read_validated(spark: SparkSession, config: Config, end: dt.date) -> tuple[DataFrame, DataFrame, dict]:
    """Every raw event partition up to `end` and the catalog as of `end`, validated in one pass, nothing written.

    For offline evaluation over a long history without ingesting it date by date. Rows
    that would be quarantined are left out and counted by reason in the third value.
    """
    root = f"{config.paths.raw.rstrip('/')}/events"
    dates = [d for d in lake.list_dates(spark, root) if d <= end]
    if not dates:
        raise IngestError(f"no raw event partitions on or before {end} under {root}")
    try:
        raw_events = read_raw(spark, [lake.partition(config.paths.raw, "events", d) for d in dates], EVENT_INPUT,
                              EVENT_REQUIRED, config.ingest.events_format)
        raw_catalog, previous = read_catalog_input(spark, config, end)
    except RawInputError as err:
        raise IngestError(str(err)) from None
    result = transform(raw_events, raw_catalog, end, previous)
    counts = {row[REASON]: row["count"] for row in result.labelled_events.groupBy(REASON).count().collect()}
    bad = {k: v for k, v in counts.items() if k is not None}
    return result.events, result.catalog, {"dates": len(dates), "kept": counts.get(None, 0), "left_out": bad}
