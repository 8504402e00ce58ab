"""Ingest run dates: validate raw events and catalog, dedupe, write curated and quarantine (several dates in one pass).

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
    carried = carried_rows(previous_catalog)
    if carried is not None:
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
    return with_date(raw), previous


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
    return main_dates(spark, config, [run_date])[-1]


def main_dates(spark: SparkSession, config: Config, dates: list[dt.date]) -> list[dict]:
    """Ingest several run dates in one Spark pass, oldest first; their reports, in date order.

    Each date gets what a run of main() per date, in order, would write: its own curated
    events (duplicates found within the date, future timestamps judged against its end), its
    catalog as of that date (the latest curated catalog before the first date, updated with
    every raw catalog partition up to it), its quarantine and its report. Like the dates run one
    by one, the first date over ingest.max_bad_share gets its quarantine and report, nothing
    curated, and stops the run: later dates are not written.

    Raises:
        IngestError: a date's input is missing or unreadable, or too many rows are bad.
    """
    dates = sorted(set(dates))
    paths = config.paths
    folders = [lake.partition(paths.raw, "events", d) for d in dates]
    empty = [f for f in folders if not lake.list_files(spark, f)]
    if empty:
        raise IngestError(f"no input files in {empty[0]}: check paths.raw and the run date")
    try:
        raw_events = with_date(read_raw(spark, folders, EVENT_INPUT, EVENT_REQUIRED, config.ingest.events_format))
        raw_catalog, targets, modes = catalog_inputs(spark, config, dates)
    except RawInputError as err:
        raise IngestError(str(err)) from None
    # Labelled rows feed the counts and every write below: compute them once.
    events = validate_events(raw_events, None).cache()
    catalog = validate_catalog(raw_catalog, by=(TARGET,)).join(F.broadcast(targets), TARGET).withColumn(
        NEW, F.col("dt").isNotNull() & (F.col("_since").isNull() | (F.col("dt") > F.col("_since")))).cache()
    limit = config.ingest.max_bad_share
    reports = count_reports(events, catalog, dates, limit)
    failed_at = next((i for i, r in enumerate(reports) if r["status"] == "failed"), None)
    written = dates if failed_at is None else dates[:failed_at + 1]
    curated = dates if failed_at is None else dates[:failed_at]
    for report, date in zip(reports, dates):
        report["input"] = {"events": lake.partition(paths.raw, "events", date),
                           "catalog": f"{paths.raw.rstrip('/')}/catalog/dt<={date}", "catalog_mode": modes[date]}
        report["output"] = {
            "events_quarantine": lake.quarantine(paths.lake, "events", date),
            "catalog_quarantine": lake.quarantine(paths.lake, "catalog", date),
            "events": lake.curated(paths.lake, "events", date),
            "catalog": lake.curated(paths.lake, "catalog", date),
            "report": lake.report(paths.lake, "ingest", date),
        }
    good = F.col(REASON).isNull()
    bad_catalog = F.col(REASON).isNotNull() & (F.col(REASON) != SUPERSEDED) & F.col(NEW)
    # Quarantine first: it is what a user reads when the run fails.
    write_quarantine(spark, events.filter(~good).select(*QUARANTINE_SCHEMA.fieldNames(), "dt"),
                     f"{paths.lake.rstrip('/')}/quarantine/events", written)
    write_quarantine(spark, catalog.filter(bad_catalog)
                     .select(*QUARANTINE_SCHEMA.fieldNames(), F.col(TARGET).alias("dt")),
                     f"{paths.lake.rstrip('/')}/quarantine/catalog", written)
    if curated:
        write_dates(spark, events.filter(good).select(*EVENTS_SCHEMA.fieldNames(), "dt"),
                    lake.curated(paths.lake, "events"), curated, config.ingest.output_files,
                    ["user_id", "event_time", "event_id"])
        write_dates(spark, catalog.filter(good).select(*CATALOG_SCHEMA.fieldNames(), F.col(TARGET).alias("dt")),
                    lake.curated(paths.lake, "catalog"), curated, 1, ["item_id"])
    events.unpersist()
    catalog.unpersist()
    for report in reports[:len(written)]:
        lake.write_json(spark, report["output"]["report"], report)
        log.info("ingest %s: %d events kept, %d quarantined", report["run_date"],
                 report["events"]["rows_kept"], report["events"]["rows_quarantined"])
    if failed_at is not None:
        report = reports[failed_at]
        details = "; ".join(
            f"{name}: {report[name]['rows_quarantined']} of {report[name]['rows_in']} rows "
            f"({report[name]['bad_share']:.1%}) quarantined, by reason {report[name]['by_reason']}"
            for name in ("events", "catalog") if report[name]["over_limit"])
        out = report["output"]
        raise IngestError(
            f"ingest {report['run_date']} failed: {details}; above ingest.max_bad_share={limit:.1%}. "
            f"Nothing was written to curated/. Inspect {out['events_quarantine']} and {out['report']}, "
            f"fix the input, or raise the limit (RECS_INGEST__MAX_BAD_SHARE).")
    return reports


TARGET = "_run_date"   # the run date a catalog row is resolved for
NEW = "_new"           # the row is input of that date (not of an earlier date of the same pass)


def with_date(raw: DataFrame) -> DataFrame:
    """Raw rows with the `dt` of the partition they were read from."""
    return raw.withColumn("dt", F.regexp_extract(SOURCE_FILE, r".*dt=(\d{4}-\d{2}-\d{2})", 1))


def catalog_inputs(spark: SparkSession, config: Config, dates: list[dt.date]) -> tuple[DataFrame, DataFrame, dict]:
    """Catalog rows to resolve for every date (column TARGET), the dates (TARGET, _since: the date before), and
    each date's mode.

    A date's rows are the earlier curated catalog (carried) and every raw partition up to it;
    of those, a run of that date alone would have read as input only the partitions after
    _since (NEW, set after validation): the only rows counted and quarantined for it.
    """
    raw, previous = read_catalog_input(spark, config, dates[-1])
    carried = carried_rows(previous)
    if carried is not None:
        raw = raw.unionByName(carried)
    since = [None, *[d.isoformat() for d in dates[:-1]]]
    targets = spark.createDataFrame([(d.isoformat(), s) for d, s in zip(dates, since)],
                                    f"{TARGET} string, _since string")
    rows = raw.join(F.broadcast(targets.select(TARGET)), F.col("dt").isNull() | (F.col("dt") <= F.col(TARGET)))
    first = "incremental" if previous is not None else "full replay"
    modes = {d: first if i == 0 else "incremental" for i, d in enumerate(dates)}
    return rows, targets, modes


def carried_rows(previous: DataFrame | None) -> DataFrame | None:
    """The earlier curated catalog as raw catalog rows (source_file PREVIOUS_CATALOG, dt null)."""
    if previous is None:
        return None
    return previous.select(
        *[F.col(c).cast("string") for c in CATALOG_INPUT],
        F.lit(None).cast("string").alias("dt"),
        F.lit(None).cast("string").alias(CORRUPT),
        F.to_json(F.struct(*CATALOG_INPUT)).alias(RAW_RECORD),
        F.lit(PREVIOUS_CATALOG).alias(SOURCE_FILE),
    )


def count_reports(events: DataFrame, catalog: DataFrame, dates: list[dt.date], limit: float) -> list[dict]:
    """Each date's report without its paths: rows in, kept and quarantined by reason, events of unknown items."""
    known = catalog.filter(F.col(REASON).isNull()).select(F.col(TARGET).alias("dt"), "item_id",
                                                          F.lit(True).alias("_known"))
    event_counts = counts_by_date(events.join(known, ["dt", "item_id"], "left"), "dt", F.lit(True),
                                  F.col("_known").isNull())
    catalog_counts = counts_by_date(catalog, TARGET, F.col(NEW), F.lit(True))
    reports = []
    for date in dates:
        key = date.isoformat()
        (e_counts, unknown), (c_counts, items) = event_counts.get(key, ({}, 0)), catalog_counts.get(key, ({}, 0))
        report = {"job": "ingest", "run_date": key, "max_bad_share": limit,
                  "events": {**summary(e_counts, limit), "events_with_unknown_item": unknown},
                  "catalog": {**summary(c_counts, limit), "items": items}}
        report["status"] = "failed" if report["events"]["over_limit"] or report["catalog"]["over_limit"] else "ok"
        reports.append(report)
    return reports


def counts_by_date(labelled: DataFrame, date: str, counted: Column, flag: Column) -> dict[str, tuple[dict, int]]:
    """Per date: input rows (where `counted`) per reason code (None for kept rows), and the kept rows for which
    `flag` holds. One Spark job; dates x reasons rows reach the driver."""
    found: dict[str, tuple[dict, int]] = {}
    rows = labelled.groupBy(F.col(date).alias("_d"), REASON, counted.alias("_counted"), flag.alias("_flag")).count()
    for row in rows.collect():
        counts, flagged = found.get(row["_d"], ({}, 0))
        flagged += row["count"] if row[REASON] is None and row["_flag"] else 0
        if row["_counted"]:
            counts[row[REASON]] = counts.get(row[REASON], 0) + row["count"]
        found[row["_d"]] = (counts, flagged)
    return found


def write_dates(spark: SparkSession, rows: DataFrame, root: str, dates: list[dt.date], files: int,
                sort_by: list[str]) -> None:
    """Replace the `dt=` partitions of `dates` under `root` with those of `rows` (a `dt` column): at most `files`
    files per date, hash-partitioned on sort_by[0] and sorted (lake.write_partition's layout, every date in one
    job)."""
    for date in dates:
        lake.delete(spark, f"{root}/dt={date.isoformat()}")
    (rows.filter(F.col("dt").isin(*[d.isoformat() for d in dates]))
     .repartition(files, sort_by[0]).sortWithinPartitions("dt", *sort_by)
     .write.mode("append").partitionBy("dt").parquet(root))


def write_quarantine(spark: SparkSession, rows: DataFrame, root: str, dates: list[dt.date]) -> None:
    """Replace the quarantine partitions of `dates` (one file each, sorted by reason and record); a date without
    rejected rows gets an empty one, so every date's quarantine can be read."""
    write_dates(spark, rows, root, dates, 1, [REASON, "record"])
    missing = [d for d in dates if not lake.exists(spark, f"{root}/dt={d.isoformat()}")]
    if missing:
        template = f"{root}/_empty"
        rows.drop("dt").limit(0).coalesce(1).write.mode("overwrite").parquet(template)
        for date in missing:
            lake.copy(spark, template, f"{root}/dt={date.isoformat()}")
        lake.delete(spark, template)


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
