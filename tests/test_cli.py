"""The `recs` command line: help on every subcommand, configuration errors, and the generator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import recs

SUBCOMMANDS = [["config"], ["generate"], ["adapt"], ["adapt", "online-retail"], ["ingest"], ["interactions"],
               ["demo"], ["run"], ["step"], ["eval"], ["models"], ["snapshot"], ["snapshot", "build"],
               ["snapshot", "validate"], ["snapshot", "publish"], ["snapshot", "rollback"], ["export"],
               ["export", "push"], ["export", "pull"]]


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_explains_itself(words, capsys):
    with pytest.raises(SystemExit) as done:
        recs.main([*words, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert f"recs {' '.join(words)}" in text and len(text.splitlines()) > 3


def test_console_script_is_installed_and_lists_commands():
    recs_bin = Path(sys.executable).parent / "recs"
    out = subprocess.run([str(recs_bin), "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("generate", "adapt", "ingest", "interactions", "demo", "config", "eval", "models"):
        assert command in out


def test_config_prints_the_effective_configuration_with_overrides(capsys, monkeypatch):
    monkeypatch.setenv("RECS_SPARK__MASTER", "yarn")
    assert recs.main(["--env", "retail", "--set", "ingest.max_bad_share=0.2", "config"]) == 0
    out = capsys.readouterr().out
    assert "master: yarn" in out and "max_bad_share: 0.2" in out and "online_retail" in out
    assert "# digest: " in out


def test_a_wrong_key_exits_2_naming_it(capsys):
    assert recs.main(["--set", "ingest.max_bad_shar=0.2", "config"]) == 2
    assert "ingest.max_bad_shar" in capsys.readouterr().err
    assert recs.main(["--set", "no-equals-sign", "config"]) == 2


def test_generate_writes_partitions_and_prints_stats(tmp_path, capsys):
    out = tmp_path / "shop"
    assert recs.main(["generate", "--out", str(out), "--users", "50", "--items", "20", "--days", "2",
                      "--start", "2026-01-01", "--format", "csv"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["events"] > 0 and stats["peak_memory_mb"] > 0
    assert sorted(p.name for p in (out / "events").iterdir()) == ["dt=2026-01-01", "dt=2026-01-02"]
    assert list((out / "events" / "dt=2026-01-01").glob("*.csv.gz"))


@pytest.mark.spark
def test_ingest_all_dates_then_interactions_from_the_command_line(spark, tmp_path, capsys):
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    assert recs.main(["generate", "--out", str(raw), "--users", "80", "--items", "30", "--days", "2",
                      "--start", "2026-02-01", "--bad-share", "0.02"]) == 0
    capsys.readouterr()
    paths = ["--set", f"paths.raw={raw}", "--set", f"paths.lake={lake}"]
    assert recs.main([*paths, "ingest", "--all"]) == 0
    out = capsys.readouterr().out
    assert "ingest local 2026-02-01:" in out and "ingest local 2026-02-02:" in out
    assert "ingested 2 date(s)" in out and "unparsable" in out
    assert recs.main([*paths, "interactions", "--date", "2026-02-02"]) == 0
    assert "interactions local 2026-02-02:" in capsys.readouterr().out
    assert (lake / "curated" / "interactions" / "dt=2026-02-02").is_dir()
    assert recs.main([*paths, "models", "--date", "2026-02-02"]) == 0
    out = capsys.readouterr().out
    for job in ("popularity", "item_similarity", "fbt_pairs", "content", "als", "ranking", "quality_gate"):
        assert f"{job} local 2026-02-02:" in out
    assert '"skipped": "nothing to evaluate' in out       # two days: no holdout for the gate yet, ALS lists serve
    for dataset in ("popularity", "item_similarity", "fbt_pairs", "content_similarity", "similar_items",
                    "als_user_factors", "als_item_factors", "als_candidates"):
        assert list((lake / "curated" / dataset / "dt=2026-02-02").glob("*.parquet")), dataset
    assert recs.main([*paths, "models", "--date", "2026-02-02", "--only", "nope"]) == 1
    assert "unknown job" in capsys.readouterr().err
    snapshots = tmp_path / "snapshots"
    paths += ["--set", f"paths.snapshots={snapshots}"]
    assert recs.main([*paths, "snapshot", "build", "--date", "2026-02-02", "--publish"]) == 0
    built = json.loads(capsys.readouterr().out.split("\n}\n")[0] + "\n}")
    name = Path(built["built"]).name
    assert name.startswith("2026-02-02-") and (snapshots / "CURRENT").read_text().strip() == name
    assert built["counts"]["user_recs"] > 0 and built["counts"]["item_meta"] == 30
    assert recs.main([*paths, "snapshot", "validate", name]) == 0
    assert "valid" in capsys.readouterr().out
    assert recs.main([*paths, "snapshot", "rollback"]) == 1               # nothing earlier to go back to
    assert "no earlier published snapshot" in capsys.readouterr().err
    assert recs.main([*paths, "export", "push"]) == 1
    assert "s3.bucket" in capsys.readouterr().err
    # A date with no raw input fails with exit code 1 and says where it looked.
    assert recs.main([*paths, "ingest", "--date", "2026-02-05"]) == 1
    assert "no input files" in capsys.readouterr().err


def test_run_is_the_whole_nightly_chain_in_one_session_and_reruns_to_the_same_snapshot(spark, tmp_path, capsys):
    raw = tmp_path / "raw"
    assert recs.main(["generate", "--out", str(raw), "--users", "80", "--items", "30", "--days", "2",
                      "--start", "2026-02-01"]) == 0
    paths = [f"paths.raw={raw}", f"paths.lake={tmp_path / 'lake'}", f"paths.snapshots={tmp_path / 'snapshots'}",
             f"s3.local_dir={tmp_path / 's3'}"]
    args = [word for pair in paths for word in ("--set", pair)]
    capsys.readouterr()
    assert recs.main([*args, "run", "--date", "2026-02-02"]) == 0
    out = capsys.readouterr().out
    from spark_jobs.steps import STEPS
    steps = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert steps == [step.name for step in STEPS]                       # every step, in order
    live = (tmp_path / "snapshots" / "CURRENT").read_text().strip()
    assert live.startswith("2026-02-02-")
    assert (tmp_path / "s3" / "recs" / "snapshots" / live / "MANIFEST.json").is_file()      # exported
    assert (tmp_path / "lake" / "reports" / "ingest" / "dt=2026-02-01").is_dir()   # the earlier date, ingested too

    assert recs.main([*args, "run", "--date", "2026-02-02"]) == 0       # idempotent: the same snapshot stays live
    assert (tmp_path / "snapshots" / "CURRENT").read_text().strip() == live
    capsys.readouterr()
    assert recs.main([*args, "step", "validate", "--date", "2026-02-02"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == live
    assert recs.main([*args, "run", "--date", "2026-02-09"]) == 1      # a date whose data has not landed
    assert "no raw events for 2026-02-09" in capsys.readouterr().err


def test_verbose_logging_keeps_third_party_debug_output_out(capsys):
    """botocore's and urllib3's debug lines carry request headers (AWS session tokens among them)."""
    import logging

    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.DEBUG)          # what -v's basicConfig does (pytest already holds the root's handlers)
        assert recs.main(["-v", "config"]) == 0
        assert logging.getLogger("recs").isEnabledFor(logging.DEBUG)
        enabled = [c for c in ("botocore", "botocore.endpoint", "urllib3.connectionpool", "s3transfer")
                   if logging.getLogger(c).isEnabledFor(logging.DEBUG)]
    finally:
        root.setLevel(level)
    assert enabled == []
