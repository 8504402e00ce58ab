"""Row rules for raw events and catalog: each bad row gets exactly one reason code.

Pure functions over DataFrames of string columns (see raw_input.read_raw). A row's
reason is the first rule it breaks, in the order of the rules below.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_jobs.columns import CORRUPT, EVENT_TYPES, RAW_RECORD, REASON, SOURCE_FILE

# Reason codes, also the keys of the ingest report.
UNPARSABLE = "unparsable"
MISSING_USER_ID = "missing_user_id"
MISSING_ITEM_ID = "missing_item_id"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
BAD_TIMESTAMP = "bad_timestamp"
FUTURE_TIMESTAMP = "future_timestamp"
NON_NUMERIC_PRICE = "non_numeric_price"
NEGATIVE_PRICE = "negative_price"
NON_NUMERIC_QUANTITY = "non_numeric_quantity"
NEGATIVE_QUANTITY = "negative_quantity"
MISSING_ORDER_ID = "missing_order_id"
DUPLICATE_EVENT = "duplicate_event"
BAD_FLAG = "bad_flag"
DUPLICATE_ITEM = "duplicate_item"
SUPERSEDED = "superseded"  # an older version of a catalog row: replaced, not bad

MAX_QUANTITY = 2**31 - 1
TRUE_WORDS = ("true", "1", "yes", "y", "t")
FALSE_WORDS = ("false", "0", "no", "n", "f")


def blank(col: str) -> Column:
    """True when the column is null or only whitespace."""
    return F.col(col).isNull() | (F.trim(F.col(col)) == "")


def trimmed(col: str) -> Column:
    """The column trimmed, with blanks as null."""
    return F.when(blank(col), None).otherwise(F.trim(F.col(col)))


def parse_timestamp(col: str) -> Column:
    """ISO-8601 (zone optional, UTC assumed) or epoch seconds / milliseconds; null when unparsable."""
    text = F.trim(F.col(col))
    return (
        F.when(text.rlike(r"^\d{13}$"), F.timestamp_millis(text.try_cast("long")))
        .when(text.rlike(r"^\d{9,10}(\.\d+)?$"), F.timestamp_seconds(text.try_cast("double")))
        .otherwise(F.try_to_timestamp(text))
    )


def parse_number(col: str) -> Column:
    """The column as a finite double; null when blank, non-numeric, NaN or infinite."""
    value = F.trim(F.col(col)).try_cast("double")
    return F.when(F.isnan(value) | (F.abs(value) == float("inf")), None).otherwise(value)


def parse_flag(col: str, default: bool) -> Column:
    """true/false/1/0/yes/no (any case) as a boolean; `default` when blank; null when not a flag."""
    word = F.lower(F.trim(F.col(col)))
    return (F.when(blank(col), F.lit(default))
            .when(word.isin(*TRUE_WORDS), True)
            .when(word.isin(*FALSE_WORDS), False))


def end_of_day(run_date: dt.date | None) -> Column:
    """Midnight UTC after `run_date` (None: after each row's `dt`): events at or after it are in the future of the
    run."""
    if run_date is None:
        return F.to_timestamp(F.date_add(F.to_date("dt"), 1))
    return F.lit(dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time()))


def first_reason(rules: list[tuple[Column, str]]) -> Column:
    """The reason of the first rule whose condition holds, else null."""
    expr = None
    for condition, reason in rules:
        expr = F.when(condition, reason) if expr is None else expr.when(condition, reason)
    return expr


def validate_events(raw: DataFrame, run_date: dt.date | None) -> DataFrame:
    """Label every raw event row: typed canonical columns plus `reason` (null when good).

    Args:
        raw: string columns of the canonical events plus _raw, _corrupt and source_file.
        run_date: the run's date; events at or after the next midnight UTC are rejected.
            None: several run dates at once, each row's own in a `dt` column (kept in the
            output); duplicates are then found within each date, as one run per date would.

    Returns:
        One row per input row: the columns of columns.EVENTS_SCHEMA (typed; meaningful
        only where reason is null), `reason`, `record` (the input text) and source_file.
        Among good rows sharing an event_id, all but one are labelled duplicate_event.
    """
    event_type = F.lower(F.trim(F.col("event_type")))
    typed = raw.select(
        "*", event_type.alias("_type"), parse_timestamp("event_time").alias("_ts"),
        parse_number("price").alias("_price"), parse_number("quantity").alias("_qty"),
    )
    rules = [
        (F.col(CORRUPT).isNotNull(), UNPARSABLE),
        (blank("user_id"), MISSING_USER_ID),
        (blank("item_id"), MISSING_ITEM_ID),
        (F.col("_type").isNull() | ~F.col("_type").isin(*EVENT_TYPES), UNKNOWN_EVENT_TYPE),
        (F.col("_ts").isNull(), BAD_TIMESTAMP),
        (F.col("_ts") >= end_of_day(run_date), FUTURE_TIMESTAMP),
        (~blank("price") & F.col("_price").isNull(), NON_NUMERIC_PRICE),
        (F.col("_price") < 0, NEGATIVE_PRICE),
        (~blank("quantity") & (F.col("_qty").isNull() | (F.col("_qty") != F.floor("_qty"))
                               | (F.col("_qty") > MAX_QUANTITY)), NON_NUMERIC_QUANTITY),
        (F.col("_qty") < 0, NEGATIVE_QUANTITY),
        ((F.col("_type") == "purchase") & blank("order_id"), MISSING_ORDER_ID),
    ]
    labelled = typed.select(
        F.coalesce(trimmed("event_id"), _derived_event_id()).alias("event_id"),
        F.col("_ts").alias("event_time"),
        F.trim("user_id").alias("user_id"),
        trimmed("session_id").alias("session_id"),
        F.col("_type").alias("event_type"),
        F.trim("item_id").alias("item_id"),
        trimmed("order_id").alias("order_id"),
        F.when(F.col("_qty").between(0, MAX_QUANTITY), F.col("_qty")).otherwise(F.lit(1.0)).cast("int")
        .alias("quantity"),
        F.col("_price").alias("price"),
        trimmed("device").alias("device"),
        trimmed("country").alias("country"),
        trimmed("request_id").alias("request_id"),
        first_reason(rules).alias(REASON),
        F.col(RAW_RECORD).alias("record"),
        SOURCE_FILE,
        *(["dt"] if run_date is None else []),
    )
    # The same event sent twice keeps one copy; which one is fixed by the row's text, not by
    # file order, so reruns agree. Only good rows compete: a bad copy never displaces a good one.
    per_date = ["dt"] if run_date is None else []
    copies = Window.partitionBy(*per_date, F.col(REASON).isNull(), "event_id").orderBy(
        F.sha2("record", 256), "record", SOURCE_FILE)
    duplicate = F.col(REASON).isNull() & (F.row_number().over(copies) > 1)
    return labelled.withColumn(REASON, F.when(duplicate, DUPLICATE_EVENT).otherwise(F.col(REASON)))


def _derived_event_id() -> Column:
    """A stable id from the event's content, for inputs without event_id."""
    parts = [F.coalesce(F.trim(c), F.lit("")) for c in ("user_id", "item_id", "session_id", "order_id")]
    parts += [F.coalesce(F.col("_type"), F.lit("")), F.coalesce(F.date_format("_ts", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"),
                                                               F.lit(""))]
    return F.concat(F.lit("d-"), F.substring(F.sha2(F.concat_ws("\u0001", *parts), 256), 1, 32))


def validate_catalog(raw: DataFrame, by: tuple[str, ...] = ()) -> DataFrame:
    """Label catalog rows (with a `dt` column, or `dt` = null for a previous curated catalog).

    `by`: columns (kept in the output) that hold several catalogs resolved apart, e.g. the run
    date each row is resolved for when several dates are ingested at once.

    Returns:
        One row per input row: the columns of columns.CATALOG_SCHEMA, `dt`, `reason`,
        `record` and source_file. For each item the row from the latest `dt` wins (reason
        null); older rows of the item get SUPERSEDED (not a fault, not quarantined); two
        rows of one item in the same, latest partition are ambiguous: one is kept (fixed by
        the row's text) and the others are labelled duplicate_item.
    """
    typed = raw.select(
        "*", parse_number("price").alias("_price"), parse_flag("in_stock", default=True).alias("_in_stock"),
        parse_flag("promoted", default=False).alias("_promoted"), parse_timestamp("created_at").alias("_created"),
    )
    rules = [
        (F.col(CORRUPT).isNotNull(), UNPARSABLE),
        (blank("item_id"), MISSING_ITEM_ID),
        (~blank("price") & F.col("_price").isNull(), NON_NUMERIC_PRICE),
        (F.col("_price") < 0, NEGATIVE_PRICE),
        (F.col("_in_stock").isNull() | F.col("_promoted").isNull(), BAD_FLAG),
        (~blank("created_at") & F.col("_created").isNull(), BAD_TIMESTAMP),
    ]
    labelled = typed.select(
        F.trim("item_id").alias("item_id"),
        trimmed("title").alias("title"),
        F.coalesce(trimmed("category"), F.lit("Unknown")).alias("category"),
        trimmed("brand").alias("brand"),
        F.col("_price").alias("price"),
        F.col("_in_stock").alias("in_stock"),
        F.col("_created").alias("created_at"),
        F.col("_promoted").alias("promoted"),
        trimmed("margin_tier").alias("margin_tier"),
        F.col("dt"),
        first_reason(rules).alias(REASON),
        F.col(RAW_RECORD).alias("record"),
        SOURCE_FILE,
        *by,
    )
    good = F.col(REASON).isNull()
    versions = Window.partitionBy(*by, good, "item_id")
    latest = versions.orderBy(F.col("dt").desc_nulls_last(), F.sha2("record", 256), "record")
    rank = F.row_number().over(latest)
    top_dt = F.max(F.coalesce("dt", F.lit(""))).over(versions)
    reason = (F.when(~good | (rank == 1), F.col(REASON))
              .when(F.coalesce("dt", F.lit("")) == top_dt, DUPLICATE_ITEM)
              .otherwise(SUPERSEDED))
    return labelled.withColumn(REASON, reason)
