"""The Online Retail adapter: orders by invoice, exclusions with reasons, UK time to UTC."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pandas as pd

from data_samples.online_retail import ATTRIBUTION, category_of, classify, convert, read_source, to_events

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
ROWS = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2011-07-01 08:26:00,2.55,17850,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,2011-07-01 08:26:00,3.39,17850,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,2,2011-07-01 08:26:00,3.39,17850,United Kingdom",
    "536366,22633,HAND WARMER UNION JACK,6,2011-12-01 08:28:00,1.85,17851,France",
    "C536379,D,Discount,-1,2011-12-01 09:41:00,27.5,14527,United Kingdom",
    "C536383,35004C,SET OF 3 COLOURED  FLYING DUCKS,-1,2011-12-01 09:49:00,4.65,15311,United Kingdom",
    "536370,POST,POSTAGE,3,2011-12-01 08:45:00,18,12583,France",
    "536414,22139,,56,2011-12-01 11:52:00,0,,United Kingdom",
    "536415,22139,damaged,-20,2011-12-01 11:53:00,0,17850,United Kingdom",
]


def write_source(tmp_path):
    path = tmp_path / "online_retail.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "\n".join(ROWS) + "\n").encode()))
    return path


def test_every_row_gets_exactly_one_fate(tmp_path):
    reasons = classify(read_source(write_source(tmp_path))).tolist()
    assert reasons == ["", "", "", "", "cancellation", "cancellation", "non_product_code", "no_customer_id",
                       "non_positive_quantity"]


def test_guests_can_be_kept_as_per_invoice_users(tmp_path):
    rows = read_source(write_source(tmp_path))
    reasons = classify(rows, keep_guests=True)
    assert reasons.iloc[7] == ""
    assert to_events(rows[reasons == ""])["user_id"].tolist()[-1] == "guest-536414"


def test_events_are_purchases_grouped_into_orders_in_utc(tmp_path):
    rows = read_source(write_source(tmp_path))
    events = to_events(rows[classify(rows) == ""])
    assert events["event_type"].eq("purchase").all()
    assert events["order_id"].tolist() == ["536365", "536365", "536365", "536366"]
    assert events["event_id"].is_unique  # the same item twice on one invoice stays two lines
    # July is British Summer Time (UTC+1); December is GMT.
    assert events["event_time"].iloc[0] == pd.Timestamp("2011-07-01 07:26:00", tz="UTC")
    assert events["event_time"].iloc[3] == pd.Timestamp("2011-12-01 08:28:00", tz="UTC")
    assert events["user_id"].iloc[3] == "17851" and events["country"].iloc[3] == "France"


def test_convert_writes_partitions_catalog_exclusions_attribution_and_a_balanced_report(tmp_path):
    out = tmp_path / "out"
    report = convert(write_source(tmp_path), out, compress=False)
    assert report["rows_in"] == len(ROWS)
    assert report["events_written"] + sum(report["excluded_by_reason"].values()) == len(ROWS)
    assert report["excluded_by_reason"] == {"cancellation": 2, "no_customer_id": 1, "non_positive_quantity": 1,
                                            "non_product_code": 1}
    assert sorted(p.name for p in (out / "events").iterdir()) == ["dt=2011-07-01", "dt=2011-12-01"]
    catalog = pd.concat(pd.read_csv(p, dtype=str) for p in sorted(out.glob("catalog/*/*.csv")))
    assert sorted(catalog["item_id"]) == ["22633", "71053", "85123A"]
    lantern = catalog.set_index("item_id").loc["71053"]
    assert lantern["title"] == "WHITE METAL LANTERN" and lantern["category"] == "Gifts > Lantern"
    excluded = pd.read_csv(next((out / "excluded").glob("*.csv")))
    assert sorted(excluded["reason"]) == sorted(["cancellation"] * 2 + ["no_customer_id", "non_positive_quantity",
                                                                        "non_product_code"])
    assert (out / "ATTRIBUTION.txt").read_text() == ATTRIBUTION + "\n" and "CC BY 4.0" in ATTRIBUTION
    assert json.loads((out / "report.json").read_text()) == report


def test_date_range_keeps_only_those_days(tmp_path):
    report = convert(write_source(tmp_path), tmp_path / "out", start=dt.date(2011, 12, 1), compress=False)
    assert report["events_written"] == 1
    assert sorted(p.name for p in (tmp_path / "out" / "events").iterdir()) == ["dt=2011-12-01"]


def test_category_comes_from_the_last_meaningful_title_word():
    assert category_of("SET OF 3 CAKE TINS PANTRY DESIGN") == "Gifts > Pantry"  # DESIGN is a stop word
    assert category_of("") == "Gifts > Other"
