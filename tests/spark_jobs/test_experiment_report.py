"""experiment_report: attribution and per-variant sums in Spark, then the whole job over shipped logs
(a local raw zone, and S3 through moto's server): idempotent shipping, quarantine, report.json / .md / .png."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from export import log_shipping
from spark_jobs import experiment_report, lake
from tests.export.conftest import s3_settings  # noqa: F401  (fixture)

pytestmark = pytest.mark.spark
DAY = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC).timestamp()
HOUR = 3600.0
IMPRESSIONS = "time double, request_id string, endpoint string, user_id string, experiment string, variant string, " \
              "items array<string>"
FEEDBACK = "time double, request_id string, user_id string, item_id string, type string, quantity long, value double"
ORDERS = "time double, user_id string, item_id string, value double, request_id string"


def shown(request_id, user, variant, items, at=DAY, experiment="exp"):
    return (at, request_id, "api.home", user, experiment, variant, items)


def test_attribution_by_request_then_by_user_and_item_within_the_window(spark):
    impressions = spark.createDataFrame([
        shown("r1", "a", "control", ["i1", "i2"]),
        shown("r2", "a", "control", ["i3"], DAY + HOUR),
        shown("r3", "b", "treatment", ["i1"]),
        shown("r4", "b", "control", ["i9"], DAY + 2 * HOUR),        # b's first variant is treatment: left out
        shown("r5", "c", "treatment", ["i4"]),
        shown("r6", "d", "treatment", ["i5"]),
        shown("r7", "e", "control", ["i1"], experiment="other"),     # another experiment
    ], IMPRESSIONS)
    feedback = spark.createDataFrame([
        (DAY + 60, "r1", "a", "i1", "click", 1, None),
        (DAY + 70, "r1", "a", "i2", "click", 1, None),
        (DAY + 80, "r3", "c", "i1", "click", 1, None),               # c never got r3: not c's click
        (DAY + 90, "r1", "a", "i2", "purchase", 1, 10.0),            # by request_id
        (DAY + 2 * HOUR, "r3", "b", "i1", "click", 1, None),
    ], FEEDBACK)
    orders = spark.createDataFrame([
        (DAY + 100, "a", "i2", 10.0, None),                          # the same purchase from the order log: once
        (DAY + 5 * HOUR, "b", "i1", 7.0, None),                      # by user + item, within 24 h
        (DAY + 30 * HOUR, "c", "i4", 3.0, None),                     # too late: not attributed
        (DAY + HOUR, "d", "i8", 4.0, None),                          # an item d was never shown
    ], ORDERS)
    sums, daily, counts = experiment_report.transform(impressions, feedback, orders, "exp", ["control", "treatment"],
                                                      24 * HOUR)
    by_variant = {row["variant"]: row.asDict() for row in sums.collect()}
    assert by_variant["control"] | {"variant": None} == {
        "variant": None, "users": 1.0, "converted": 1.0, "impressions": 2.0, "impressions_sq": 4.0, "clicks": 2.0,
        "clicks_sq": 4.0, "clicks_impressions": 4.0, "revenue": 10.0, "revenue_sq": 100.0}
    assert by_variant["treatment"] | {"variant": None} == {
        "variant": None, "users": 3.0, "converted": 1.0, "impressions": 3.0, "impressions_sq": 3.0, "clicks": 1.0,
        "clicks_sq": 1.0, "clicks_impressions": 1.0, "revenue": 7.0, "revenue_sq": 49.0}
    c = counts.first().asDict()
    assert c == {"impressions": 5, "other_variant_impressions": 1, "by_request": 1, "by_user_item": 1,
                 "purchases": 4}
    days = {(r["variant"], r["conversion_day"]): r["users"] for r in daily.collect()}
    assert days == {("control", dt.date(2026, 11, 20)): 1, ("treatment", dt.date(2026, 11, 20)): 1,
                    ("treatment", None): 2}


def closed_logs(folder, day: dt.date, users: int, bad_line: bool = False):
    """Closed log files of a two-variant experiment on day, as the lookup server leaves them."""
    at = dt.datetime.combine(day, dt.time(10), dt.UTC).timestamp()
    closed = folder / "closed"
    closed.mkdir(parents=True, exist_ok=True)
    shown_lines, outcomes = [], []
    for n in range(users):
        variant = "control" if n % 2 else "treatment"
        request = f"{day:%m%d}-{n}"
        shown_lines.append({"time": at + n, "request_id": request, "endpoint": "api.home", "user_id": f"u{n}",
                            "experiment": "exp", "variant": variant, "items": ["i1", "i2"]})
        if n % 3 == 0:
            outcomes.append({"time": at + n + 5, "request_id": request, "user_id": f"u{n}", "item_id": "i1",
                             "type": "click", "quantity": 1, "value": None})
        if n % 5 == 0:
            outcomes.append({"time": at + n + 9, "request_id": request, "user_id": f"u{n}", "item_id": "i2",
                             "type": "purchase", "quantity": 1, "value": 12.5})
    text = "".join(json.dumps(line) + "\n" for line in shown_lines) + ("{not json\n" if bad_line else "")
    (closed / f"impressions-host-1-{int(at)}.jsonl").write_text(text)
    (closed / f"feedback-host-1-{int(at)}.jsonl").write_text("".join(json.dumps(o) + "\n" for o in outcomes))
    for path in closed.glob(f"*-{int(at)}.jsonl"):
        os.utime(path, (at + 3600, at + 3600))                          # closed that day, as by a server


EXPERIMENT = {"name": "exp", "variants": {"treatment": {"share": 0.5}, "control": {"share": 0.5}}}


def test_shipped_twice_the_report_counts_every_line_once_and_writes_its_files(spark, make_config, tmp_path):
    config = make_config(serve__experiment=EXPERIMENT, experiment_report__control="control",
                         experiment_report__days=7)
    logs = tmp_path / "logs"
    closed_logs(logs, dt.date(2026, 11, 20), 40, bad_line=True)
    first = log_shipping.ship(str(logs), config.paths.logs_raw, config.s3)
    assert first["files"] == 2 and first["lines"] == {"impressions": 41, "feedback": 22}
    assert first["dates"] == ["2026-11-20"]
    # a retried task after a crash between copy and move: the same files are shipped again
    for path in (logs / "shipped").iterdir():
        path.replace(logs / "closed" / path.name)
    closed_logs(logs, dt.date(2026, 11, 21), 40)
    second = log_shipping.ship(str(logs), config.paths.logs_raw, config.s3)
    assert second["files"] == 4 and not list((logs / "closed").iterdir())
    assert sorted(p.name for p in (tmp_path / "raw" / "impressions").iterdir()) == ["dt=2026-11-20", "dt=2026-11-21"]

    report = experiment_report.main(spark, config, dt.date(2026, 11, 21))
    assert report["variants"]["treatment"]["users"] == 20 and report["variants"]["control"]["users"] == 20
    assert report["variants"]["treatment"]["impressions"] == 40         # 2 days x 20, never 80
    assert report["quarantined"] == 1                                   # the line that is not JSON
    assert report["trustworthy"] and report["srm"]["observed"] == {"treatment": 20, "control": 20}
    # users 0, 10, 20, 30 buy (n % 5 == 0, even: treatment), users 5, 15, 25, 35 too (odd: control)
    assert report["variants"]["treatment"]["conversion"] == pytest.approx(4 / 20)
    assert report["comparisons"]["treatment"]["conversion"]["diff"] == pytest.approx(0.0)
    assert [d["day"] for d in report["daily"]] == ["2026-11-20", "2026-11-21"]
    folder = tmp_path / "lake" / "reports" / "experiment_report" / "dt=2026-11-21"
    saved = json.loads((folder / "report.json").read_text())
    assert saved["variants"] == report["variants"]
    assert "| treatment | conversion |" in (folder / "report.md").read_text()
    assert (folder / "lift.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert lake.exists(spark, lake.quarantine(config.paths.lake, "experiment_logs", dt.date(2026, 11, 21)))


def test_no_experiment_writes_a_report_that_says_so(spark, make_config):
    report = experiment_report.main(spark, make_config(), dt.date(2026, 11, 21))
    assert report["experiment"] is None and "serve.experiment" in report["why"]
    assert experiment_report.table(report).startswith("No experiment")


def test_logs_ship_to_s3_once_whatever_the_retries(tmp_path, s3_settings):  # noqa: F811
    import boto3

    logs = tmp_path / "logs"
    closed_logs(logs, dt.date(2026, 11, 20), 10)
    raw = f"s3a://{s3_settings.bucket}/shop/raw"
    log_shipping.ship(str(logs), raw, s3_settings)
    for path in (logs / "shipped").iterdir():                          # a retry ships the same files again
        path.replace(logs / "closed" / path.name)
    log_shipping.ship(str(logs), raw, s3_settings)
    client = boto3.client("s3", endpoint_url=s3_settings.endpoint_url, region_name="us-east-1")
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=s3_settings.bucket)["Contents"])
    assert [k.rsplit("/", 1)[0] for k in keys] == ["shop/raw/feedback/dt=2026-11-20",
                                                   "shop/raw/impressions/dt=2026-11-20"]
    body = client.get_object(Bucket=s3_settings.bucket, Key=keys[1])["Body"].read().decode()
    assert len(body.splitlines()) == 10
