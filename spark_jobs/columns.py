"""Column names and schemas of the canonical input and of the curated outputs."""

from __future__ import annotations

from pyspark.sql import types as T

from conf.schema import EVENT_TYPES  # noqa: F401  (re-exported)

RAW_RECORD = "_raw"          # the input row as text, kept for quarantine
CORRUPT = "_corrupt"         # set by the reader when a row cannot be parsed
SOURCE_FILE = "source_file"  # where a row came from, kept for quarantine
REASON = "reason"

# Canonical events: required columns first; the rest may be absent from the input.
EVENT_REQUIRED = ("event_time", "user_id", "event_type", "item_id")
EVENT_OPTIONAL = ("event_id", "session_id", "order_id", "quantity", "price", "device", "country", "request_id")
EVENT_INPUT = EVENT_REQUIRED + EVENT_OPTIONAL

CATALOG_REQUIRED = ("item_id",)
CATALOG_OPTIONAL = ("title", "category", "brand", "price", "in_stock", "created_at", "promoted", "margin_tier")
CATALOG_INPUT = CATALOG_REQUIRED + CATALOG_OPTIONAL


EVENTS_SCHEMA = T.StructType([
    T.StructField("event_id", T.StringType(), False),
    T.StructField("event_time", T.TimestampType(), False),
    T.StructField("user_id", T.StringType(), False),
    T.StructField("session_id", T.StringType(), True),
    T.StructField("event_type", T.StringType(), False),
    T.StructField("item_id", T.StringType(), False),
    T.StructField("order_id", T.StringType(), True),
    T.StructField("quantity", T.IntegerType(), False),
    T.StructField("price", T.DoubleType(), True),
    T.StructField("device", T.StringType(), True),
    T.StructField("country", T.StringType(), True),
    T.StructField("request_id", T.StringType(), True),   # the lookup answer that showed the item, when known
])

CATALOG_SCHEMA = T.StructType([
    T.StructField("item_id", T.StringType(), False),
    T.StructField("title", T.StringType(), True),
    T.StructField("category", T.StringType(), False),
    T.StructField("brand", T.StringType(), True),
    T.StructField("price", T.DoubleType(), True),
    T.StructField("in_stock", T.BooleanType(), False),
    T.StructField("created_at", T.TimestampType(), True),
    T.StructField("promoted", T.BooleanType(), False),
    T.StructField("margin_tier", T.StringType(), True),
])

QUARANTINE_SCHEMA = T.StructType([
    T.StructField(REASON, T.StringType(), False),
    T.StructField("record", T.StringType(), True),
    T.StructField(SOURCE_FILE, T.StringType(), True),
])

INTERACTIONS_SCHEMA = T.StructType([
    T.StructField("user_id", T.StringType(), False),
    T.StructField("item_id", T.StringType(), False),
    T.StructField("weight", T.DoubleType(), False),
    T.StructField("n_events", T.LongType(), False),
    T.StructField("n_views", T.LongType(), False),
    T.StructField("n_carts", T.LongType(), False),
    T.StructField("n_purchases", T.LongType(), False),
    T.StructField("quantity_purchased", T.LongType(), False),
    T.StructField("first_time", T.TimestampType(), False),
    T.StructField("last_time", T.TimestampType(), False),
])
