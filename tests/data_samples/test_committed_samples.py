"""The committed samples are canonical: they ingest cleanly, and the synthetic one exercises quarantine."""

from __future__ import annotations

import pytest

from conf import load_config
from conf.loader import PROJECT_ROOT
from spark_jobs import ingest, lake

SAMPLES = PROJECT_ROOT / "data_samples"


def test_online_retail_slice_keeps_its_attribution():
    text = (SAMPLES / "online_retail" / "ATTRIBUTION.txt").read_text()
    assert "CC BY 4.0" in text and "Online Retail" in text


def test_samples_stay_small():
    size = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert size < 5 * 1024 * 1024


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize("env", ["local", "retail"])
def test_the_last_date_of_each_sample_ingests_under_the_limit(spark, tmp_path, env):
    config = load_config(env=env, environ={}, overrides={"paths.lake": str(tmp_path / "lake")})
    dates = lake.list_dates(spark, f"{config.paths.raw}/events")
    assert len(dates) >= 14
    report = ingest.main(spark, config, dates[-1])
    assert report["status"] == "ok" and report["input"]["catalog_mode"] == "full replay"
    assert report["events"]["rows_kept"] > 500
    assert report["events"]["events_with_unknown_item"] == 0
    if env == "local":  # the synthetic sample carries a few damaged rows of each kind on purpose
        assert {"unparsable", "duplicate_event", "missing_order_id"} <= set(report["events"]["by_reason"])
        assert 0 < report["events"]["bad_share"] < config.ingest.max_bad_share
