"""The scale benchmark's arithmetic: step lines parsed, shops that grow with events, growth per million events."""

from __future__ import annotations

from conf import load_config
from spark_jobs import bench_chain

OUTPUT = """== standalone 2026-11-30
  has_input           0.0 s  {"found": true}
  ingest             40.0 s  {"events": {"rows_in": 35}}
07:35:39 INFO spark_jobs.session: Spark 4.2.0
  ranking           100.0 s  {"published": "ranked"}
== standalone 2026-11-30: done in 150 s
"""


def result(events: int, ingest: float, ranking: float) -> dict:
    return {"events": events, "users": events // 36, "items": events // 240, "steps": {
        "has_input": 0.0, "ingest": ingest, "ranking": ranking}, "chain_seconds": ingest + ranking + 10,
        "driver_peak_mb": 900.0, "executor_peak_mb": 0.0}


def test_step_lines_are_read_and_other_lines_ignored():
    assert bench_chain.step_seconds(OUTPUT) == {"has_input": 0.0, "ingest": 40.0, "ranking": 100.0}


def test_users_and_items_grow_with_events():
    config = load_config(env="local", environ={})
    small, large = bench_chain.shop_size(1_000_000, config), bench_chain.shop_size(16_000_000, config)
    assert small == (27_777, 4_166)
    assert large[0] == 16 * small[0] + 12 and large[1] > 15 * small[1]


def test_growth_compares_seconds_per_million_events_and_the_table_shows_it():
    linear, superlinear = result(1_000_000, 40.0, 100.0), result(4_000_000, 160.0, 800.0)
    rise = bench_chain.growth([superlinear, linear])
    assert rise["ingest"] == 1.0 and rise["ranking"] == 2.0 and rise["chain"] == round((970 / 4) / 150, 2)
    assert "has_input" not in rise                        # under a second: no meaningful ratio
    table = bench_chain.markdown([linear, superlinear])
    assert "| ranking | 100.0 s (100.0 s/M) | 800.0 s (200.0 s/M) | 2.00x |" in table
    assert "in the driver (local mode)" in table
