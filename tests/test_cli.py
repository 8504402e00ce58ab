"""The `recs` command line: help on every subcommand, configuration errors, and the generator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import recs

SUBCOMMANDS = [["config"], ["generate"], ["adapt"], ["adapt", "online-retail"], ["ingest"], ["interactions"],
               ["demo"]]


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
    for command in ("generate", "adapt", "ingest", "interactions", "demo", "config"):
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
