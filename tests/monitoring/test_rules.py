"""monitoring/: `promtool check` of the configuration and rules, and `promtool test rules` (every alert
fires over its threshold and stays quiet under it). promtool comes from Debian's prometheus package, which
`make test` installs; a missing promtool fails these tests, it never skips them."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from tests.lookup_server.conftest import REPO

MONITORING = REPO / "monitoring"


def promtool(*args: str) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: `make test` installs Debian's prometheus package (as root), or run " \
                 "`sudo apt-get install prometheus`"
    return subprocess.run([tool, *args], cwd=MONITORING, capture_output=True, text=True, timeout=120)


def test_the_rules_and_the_configuration_pass_promtool_check():
    done = promtool("check", "rules", "rules.yml")
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr
    done = promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_rule_has_unit_tests_that_fire_and_stay_quiet_and_they_pass():
    rules = {r["alert"] for g in yaml.safe_load((MONITORING / "rules.yml").read_text())["groups"] for r in g["rules"]}
    files = sorted((MONITORING / "tests").glob("*_test.yml"))
    cases = [case for path in files for case in yaml.safe_load(path.read_text())["tests"]]
    firing = {t["alertname"] for case in cases for t in case["alert_rule_test"] if t["exp_alerts"]}
    quiet = {t["alertname"] for case in cases for t in case["alert_rule_test"] if not t["exp_alerts"]}
    assert firing == rules and quiet == rules
    done = promtool("test", "rules", *[str(path.relative_to(MONITORING)) for path in files])
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr
