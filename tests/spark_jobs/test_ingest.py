"""The ingest job on real local Spark: every bad kind quarantined with its reason, no good row lost."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spark_jobs import ingest, lake
from spark_jobs.columns import EVENT_INPUT, EVENT_REQUIRED
from spark_jobs.raw_input import read_raw
from tests.conftest import write_lines

pytestmark = pytest.mark.spark
RUN = dt.date(2026, 11, 3)


def event(n: int, **changes) -> dict:
    row = {"event_id": f"e{n}", "event_time": f"2026-11-03T10:{n % 60:02d}:00Z", "user_id": f"u{n % 3}",
           "session_id": f"s{n}", "event_type": "view", "item_id": f"i{n % 4}", "quantity": 1,
           "price": 9.5, "device": "mobile"}
    row.update(changes)
    return row


GOOD = [event(n) for n in range(6)] + [event(6, event_type="purchase", order_id="o1", quantity=2)]
CATALOG = [{"item_id": f"i{n}", "title": f"Item {n}", "category": "Home > Mugs", "brand": "Acme",
            "price": 5 + n, "in_stock": True, "created_at": "2026-10-01T00:00:00Z", "promoted": False,
            "margin_tier": "low"} for n in range(4)]

BAD_KINDS = {
    "unparsable": '{"event_id": "bad", "user_id": "u1", "item_',
    "missing_user_id": event(100, user_id=None),
    "missing_item_id": event(101, item_id="  "),
    "unknown_event_type": event(102, event_type="click"),
    "negative_price": event(103, price=-1.0),
    "non_numeric_price": event(104, price="cheap"),
    "negative_quantity": event(105, quantity=-3),
    "non_numeric_quantity": event(106, quantity="two"),
    "bad_timestamp": event(107, event_time="last tuesday"),
    "future_timestamp": event(108, event_time="2026-11-04T00:00:00Z"),
    "missing_order_id": event(109, event_type="purchase", order_id=None),
    "duplicate_event": GOOD[2],
}


def write_raw(config, events, catalog=CATALOG, run_date=RUN, catalog_date=None):
    raw = config.paths.raw
    write_lines(lake_path(raw, "events", run_date), events)
    write_lines(lake_path(raw, "catalog", catalog_date or run_date), catalog)


def lake_path(root, dataset, date):
    from pathlib import Path
    return Path(lake.partition(root, dataset, date))


def run_transform(spark, config, run_date=RUN):
    raw_events = read_raw(spark, lake.partition(config.paths.raw, "events", run_date), EVENT_INPUT, EVENT_REQUIRED)
    raw_catalog, previous = ingest.read_catalog_input(spark, config, run_date)
    return ingest.transform(raw_events, raw_catalog, run_date, previous)


@pytest.mark.parametrize("kind", sorted(BAD_KINDS))
def test_each_bad_kind_lands_in_quarantine_with_its_reason(spark, make_config, kind):
    config = make_config()
    write_raw(config, GOOD + [BAD_KINDS[kind]])
    result = run_transform(spark, config)

    quarantined = result.events_quarantine.collect()
    assert [row.reason for row in quarantined] == [kind]
    assert quarantined[0].record  # the row's own text travels with it
    kept = sorted(row.event_id for row in result.events.collect())
    assert kept == sorted(row["event_id"] for row in GOOD), "a good row was lost or a bad one kept"


def test_good_rows_are_typed_and_trimmed(spark, make_config):
    config = make_config()
    write_raw(config, [event(1, user_id="  u9 ", event_type=" PURCHASE", order_id="o7", quantity="3",
                             price="12.50", event_time="2026-11-03T09:30:00+01:00", request_id=" 3f2a9c "),
                       event(2)])
    row, other = sorted(run_transform(spark, config).events.collect(), key=lambda r: r.event_id)
    assert (row.user_id, row.event_type, row.order_id, row.quantity, row.price) == ("u9", "purchase", "o7", 3, 12.5)
    assert row.request_id == "3f2a9c" and other.request_id is None    # the lookup answer's id, when the shop has it
    assert row.event_time == dt.datetime(2026, 11, 3, 8, 30)  # converted to UTC


def test_events_without_event_id_get_a_stable_derived_id_and_exact_repeats_are_duplicates(spark, make_config):
    config = make_config()
    anonymous = {k: v for k, v in event(1).items() if k != "event_id"}
    write_raw(config, [anonymous, anonymous, event(2)])
    result = run_transform(spark, config)
    ids = [row.event_id for row in result.events.collect()]
    assert len(ids) == 2 and any(i.startswith("d-") for i in ids)
    assert [row.reason for row in result.events_quarantine.collect()] == ["duplicate_event"]
    again = [row.event_id for row in run_transform(spark, config).events.collect()]
    assert sorted(again) == sorted(ids)


def test_a_bad_copy_never_displaces_the_good_one(spark, make_config):
    config = make_config()
    write_raw(config, [event(1), event(1, price=-5)])
    result = run_transform(spark, config)
    assert [row.price for row in result.events.collect()] == [9.5]
    assert [row.reason for row in result.events_quarantine.collect()] == ["negative_price"]


def test_main_writes_curated_quarantine_and_a_report_of_counts(spark, make_config):
    config = make_config(ingest__max_bad_share=0.9)
    bad = list(BAD_KINDS.values())
    write_raw(config, GOOD + bad)
    report = ingest.main(spark, config, RUN)

    assert report["status"] == "ok"
    assert report["events"]["rows_in"] == len(GOOD) + len(bad)
    assert report["events"]["rows_kept"] == len(GOOD)
    assert report["events"]["by_reason"] == {kind: 1 for kind in BAD_KINDS}
    curated = spark.read.parquet(report["output"]["events"])
    assert curated.count() == len(GOOD)
    quarantine = spark.read.parquet(report["output"]["events_quarantine"])
    assert sorted(r.reason for r in quarantine.collect()) == sorted(BAD_KINDS)
    assert "source_file" in quarantine.columns
    assert json.loads(open(report["output"]["report"]).read()) == report
    assert report["catalog"]["items"] == len(CATALOG)


def test_rerun_of_the_same_date_gives_identical_output(spark, make_config):
    config = make_config(ingest__max_bad_share=0.9)
    write_raw(config, GOOD + list(BAD_KINDS.values()))
    first = ingest.main(spark, config, RUN)
    files = sorted(lake_path(config.paths.lake, "curated/events", RUN).glob("*.parquet"))
    tables = [pq.read_table(f) for f in files]
    second = ingest.main(spark, config, RUN)
    again = sorted(lake_path(config.paths.lake, "curated/events", RUN).glob("*.parquet"))
    assert [f.name for f in files] != [] and len(again) == len(files)
    assert [pq.read_table(f) for f in again] == tables
    assert first["events"] == second["events"]


def test_bad_share_over_the_limit_fails_with_a_clear_message_and_writes_no_curated_data(spark, make_config):
    config = make_config(ingest__max_bad_share=0.1)
    write_raw(config, GOOD[:3] + [BAD_KINDS["negative_price"], BAD_KINDS["unknown_event_type"]])
    with pytest.raises(ingest.IngestError) as err:
        ingest.main(spark, config, RUN)
    message = str(err.value)
    assert "2 of 5 rows (40.0%)" in message and "max_bad_share=10.0%" in message
    assert not lake.exists(spark, lake.curated(config.paths.lake, "events", RUN))
    report = json.loads(open(lake.report(config.paths.lake, "ingest", RUN)).read())
    assert report["status"] == "failed"
    assert report["events"]["by_reason"] == {"negative_price": 1, "unknown_event_type": 1}
    assert spark.read.parquet(lake.quarantine(config.paths.lake, "events", RUN)).count() == 2


def test_missing_input_partition_is_a_clear_error(spark, make_config):
    config = make_config()
    write_raw(config, GOOD)
    with pytest.raises(ingest.IngestError, match="no input files .*dt=2026-11-04"):
        ingest.main(spark, config, RUN + dt.timedelta(days=1))


def test_csv_input_with_reordered_columns_and_a_short_row(spark, make_config):
    config = make_config()
    folder = lake_path(config.paths.raw, "events", RUN)
    folder.mkdir(parents=True)
    (folder / "part.csv").write_text(
        "user_id,item_id,event_type,event_time,price,order_id\n"
        "u1,i1,view,2026-11-03 10:00:00,3.5,\n"
        'u2,i2,purchase,2026-11-03 11:00:00,4,"o,1"\n'
        "u3,i3\n")
    write_lines(lake_path(config.paths.raw, "catalog", RUN), CATALOG)
    result = run_transform(spark, config)
    rows = sorted(result.events.collect(), key=lambda r: r.user_id)
    assert [(r.user_id, r.item_id, r.order_id, r.price) for r in rows] == [("u1", "i1", None, 3.5),
                                                                           ("u2", "i2", "o,1", 4.0)]
    assert [r.reason for r in result.events_quarantine.collect()] == ["unparsable"]


def test_parquet_input_with_typed_columns(spark, make_config):
    config = make_config()
    folder = lake_path(config.paths.raw, "events", RUN)
    folder.mkdir(parents=True)
    pq.write_table(pa.table({
        "event_time": pa.array([dt.datetime(2026, 11, 3, 12), dt.datetime(2026, 11, 5)], pa.timestamp("us")),
        "user_id": ["u1", "u2"], "event_type": ["add_to_cart", "view"], "item_id": ["i1", "i2"],
        "quantity": pa.array([2, 1], pa.int64()), "price": [1.25, 2.0]}), folder / "part.parquet")
    write_lines(lake_path(config.paths.raw, "catalog", RUN), CATALOG)
    result = run_transform(spark, config)
    assert [(r.user_id, r.quantity, r.price) for r in result.events.collect()] == [("u1", 2, 1.25)]
    assert [r.reason for r in result.events_quarantine.collect()] == ["future_timestamp"]


def test_input_without_a_required_column_is_refused(spark, make_config):
    config = make_config()
    folder = lake_path(config.paths.raw, "events", RUN)
    folder.mkdir(parents=True)
    (folder / "part.csv").write_text("user_id,event_type,event_time\nu1,view,2026-11-03 10:00:00\n")
    write_lines(lake_path(config.paths.raw, "catalog", RUN), CATALOG)
    with pytest.raises(ingest.IngestError, match=r"lacks required column\(s\) \['item_id'\]"):
        ingest.main(spark, config, RUN)


def test_catalog_latest_row_wins_across_days_and_bad_rows_are_quarantined(spark, make_config):
    config = make_config(ingest__max_bad_share=0.9)
    day1, day2 = RUN - dt.timedelta(days=1), RUN
    write_raw(config, [event(n, event_time="2026-11-02T10:00:00Z") for n in range(3)], run_date=day1)
    write_raw(config, GOOD, catalog=[
        {**CATALOG[0], "in_stock": "false", "price": 6.0},   # an update
        {**CATALOG[0], "in_stock": "no", "price": 7.0},      # the same item twice in one partition
        {"item_id": "i9", "title": "New", "category": "Home > Mugs", "price": "1.5"},
        {"item_id": "i10", "price": -2},
        {"item_id": "i11", "in_stock": "maybe"},
    ], run_date=day2)
    first = ingest.main(spark, config, day1)
    assert first["input"]["catalog_mode"] == "full replay"
    second = ingest.main(spark, config, day2)
    assert second["input"]["catalog_mode"] == "incremental"
    catalog = {r.item_id: r for r in spark.read.parquet(second["output"]["catalog"]).collect()}
    assert sorted(catalog) == ["i0", "i1", "i2", "i3", "i9"]
    assert catalog["i0"].in_stock is False and catalog["i0"].price in (6.0, 7.0)
    assert catalog["i9"].in_stock is True and catalog["i9"].promoted is False
    assert second["catalog"]["by_reason"] == {"bad_flag": 1, "duplicate_item": 1, "negative_price": 1}
    assert second["catalog"]["items"] == 5

    # The same date rebuilt without yesterday's curated catalog replays every raw partition.
    import shutil
    shutil.rmtree(lake.curated(config.paths.lake, "catalog", day1))
    replayed = ingest.main(spark, config, day2)
    assert replayed["input"]["catalog_mode"] == "full replay"
    again = {r.item_id: r for r in spark.read.parquet(replayed["output"]["catalog"]).collect()}
    assert again == catalog


def three_days(config, day3_events=None):
    """Raw input of three dates: a catalog update with bad and duplicate rows on day 2, none on day 3; an
    event id sent on two dates (kept on both: duplicates are found within a date), a duplicate within day 2
    and a timestamp after day 2 in day 2's file."""
    days = [RUN - dt.timedelta(days=2), RUN - dt.timedelta(days=1), RUN]
    stamp = [f"{d.isoformat()}T10:00:00Z" for d in days]
    write_raw(config, [event(n, event_time=stamp[0]) for n in range(4)], run_date=days[0])
    write_raw(config, [event(n, event_time=stamp[1]) for n in range(2, 8)] + [event(5, event_time=stamp[1]),
                                                                               event(9, event_time=stamp[2])],
              catalog=[{**CATALOG[0], "in_stock": "false", "price": 6.0}, {**CATALOG[0], "price": 7.0},
                       {"item_id": "i9", "title": "New", "category": "Home > Mugs", "price": "1.5"},
                       {"item_id": "i10", "price": -2}], run_date=days[1])
    write_lines(lake_path(config.paths.raw, "events", days[2]),
                day3_events or [event(n, event_time=stamp[2], item_id="i9") for n in range(3)])
    return days


def written(spark, config, report) -> dict:
    """What one date's ingest left in the lake, without paths: report, curated rows, quarantined rows."""
    out = {"report": {k: v for k, v in report.items() if k not in ("input", "output")},
           "mode": report["input"]["catalog_mode"]}
    for name in ("events", "catalog", "events_quarantine", "catalog_quarantine"):
        path = report["output"][name]
        rows = spark.read.parquet(path).drop("source_file").collect() if lake.exists(spark, path) else None
        out[name] = None if rows is None else sorted(map(str, rows))
    return out


def test_several_dates_in_one_pass_write_what_one_run_per_date_writes(spark, make_config, tmp_path):
    one_by_one = make_config(ingest__max_bad_share=0.9)
    days = three_days(one_by_one)
    expected = [written(spark, one_by_one, ingest.main(spark, one_by_one, d)) for d in days]
    at_once = make_config(ingest__max_bad_share=0.9, paths__lake=str(tmp_path / "lake_at_once"))
    reports = ingest.main_dates(spark, at_once, days)
    assert [r["run_date"] for r in reports] == [d.isoformat() for d in days]
    assert [written(spark, at_once, r) for r in reports] == expected
    day2 = reports[1]
    assert day2["events"]["by_reason"] == {"duplicate_event": 1, "future_timestamp": 1}
    assert day2["catalog"]["by_reason"] == {"duplicate_item": 1, "negative_price": 1}
    assert [r["input"]["catalog_mode"] for r in reports] == ["full replay", "incremental", "incremental"]
    assert reports[2]["events"]["events_with_unknown_item"] == 0       # i9 arrived on day 2
    assert len(lake.list_files(spark, day2["output"]["events"])) <= at_once.ingest.output_files


def test_in_one_pass_the_first_date_over_the_limit_stops_the_run_like_one_run_per_date(spark, make_config):
    config = make_config()
    days = three_days(config, day3_events=[event(n, user_id=None) for n in range(3)])   # day 3: all bad
    ingest.main(spark, config, days[0])
    config = make_config(ingest__max_bad_share=0.6)     # day 2: 25% of events, 50% of catalog rows
    with pytest.raises(ingest.IngestError, match=f"ingest {days[2]} failed: events: 3 of 3 rows"):
        ingest.main_dates(spark, config, days[1:])
    assert lake.exists(spark, lake.curated(config.paths.lake, "events", days[1]))
    assert not lake.exists(spark, lake.curated(config.paths.lake, "events", days[2]))
    assert spark.read.parquet(lake.quarantine(config.paths.lake, "events", days[2])).count() == 3
    report = json.loads(open(lake.report(config.paths.lake, "ingest", days[2])).read())
    assert report["status"] == "failed" and report["input"]["catalog_mode"] == "incremental"
