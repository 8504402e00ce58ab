"""The nightly chain's wiring and its light steps (no Spark): order, the gate's verdict, publish rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from spark_jobs import chain, snapshot, steps
from spark_jobs.offline.gate import GateError
from spark_jobs.quality_gate import decide

DAY = dt.date(2026, 11, 14)


def test_steps_are_in_dependency_order_and_name_known_steps():
    seen = set()
    for step in steps.STEPS:
        assert set(step.upstream) <= seen, f"{step.name} runs before its upstream"
        seen.add(step.name)
    assert [s.name for s in steps.STEPS][-6:] == ["snapshot", "validate", "publish", "export",   # then the A/B
                                                  "ship_logs", "experiment_report"]          # steps: after a publish
    assert {s.name for s in steps.STEPS if not s.spark} == {"has_input", "validate", "publish", "export", "ship_logs"}
    assert steps.MODEL_JOBS == (*steps.MODELS, "ranking", "quality_gate")


def test_every_step_runs_a_function_named_in_the_chain():
    """The DAG, `recs run` and `recs models` read steps.STEPS; chain.RUNNERS binds each to its code."""
    assert list(chain.RUNNERS) == [step.name for step in steps.STEPS]
    assert chain.RUNNERS["ranking"].__module__ == "spark_jobs.ranking"
    assert chain.RUNNERS["snapshot"].__module__ == "spark_jobs.snapshot"


def test_unknown_steps_and_spark_steps_without_a_session_are_refused(make_config):
    with pytest.raises(chain.ChainError, match="unknown step 'rank'; the steps are has_input, ingest, interactions"):
        chain.run_step("rank", make_config(), DAY)
    with pytest.raises(chain.ChainError, match="step ingest needs a SparkSession"):
        chain.run_step("ingest", make_config(), DAY)


def test_light_steps_need_the_snapshot_step_first(make_config):
    with pytest.raises(chain.ChainError, match="no snapshot was built for 2026-11-14 .* run the snapshot step"):
        chain.run_step("validate", make_config(), DAY)


def test_the_gate_verdict_stops_a_failed_run_and_passes_a_skipped_ranking():
    failed = {"gate": {"passed": False, "failures": ["ndcg@20 of the ranked lists 0.01 is below the x"]}}
    with pytest.raises(GateError, match="quality gate failed for 2026-11-14; nothing will be published: ndcg@20"):
        decide(failed, DAY, "report.json")
    with pytest.raises(GateError, match="no ranking report for 2026-11-14"):
        decide(None, DAY, "report.json")
    skipped = decide({"skipped": "no label window"}, DAY, "report.json")
    assert skipped["passed"] and "serves ALS lists" in skipped["skipped"]
    passed = decide({"gate": {"passed": True, "measured": {"ranked": {"ndcg": 0.2}}}}, DAY, "report.json")
    assert passed["measured"] == {"ndcg": 0.2}


@pytest.mark.spark
def test_publish_only_moves_current_forward_and_export_copies_to_the_local_folder(spark, inputs, make_config,
                                                                                  tmp_path):
    from export import builder, manifest, store

    config = make_config(s3__local_dir=str(tmp_path / "s3"))
    lists, meta = inputs

    def built(day: dt.date, digest: str) -> str:
        folder = builder.build(spark, Path(config.paths.snapshots), day, digest, lists, meta, {"run": {}},
                               config.snapshot)
        snapshot.record_built(config, day, folder.name)
        return folder.name

    newer = built(DAY, "new")
    assert chain.run_step("validate", config, DAY)["name"] == newer
    assert chain.run_step("publish", config, DAY)["live"] == newer
    older = built(DAY - dt.timedelta(days=1), "old")                       # a backfill of the day before
    kept = chain.run_step("publish", config, DAY - dt.timedelta(days=1))
    assert kept == {"job": "publish", "live": newer, "built": older, "published": False}
    assert store.current(Path(config.paths.snapshots)) == newer

    first = chain.run_step("export", config, DAY)
    copy = tmp_path / "s3" / "recs" / "snapshots" / newer
    assert first["uploaded"] > 0 and manifest.read(copy) == manifest.read(Path(config.paths.snapshots) / newer)
    assert store.verify_files(copy)
    again = chain.run_step("export", config, DAY)                          # idempotent: nothing copied twice
    assert again["uploaded"] == 0 and again["already_there"] == first["uploaded"]
