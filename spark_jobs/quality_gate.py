"""The quality gate's decision for one run date: stop the run when the ranking job's figures failed.

The ranking job (spark_jobs/ranking.py) scores its pipeline on a holdout and records the figures
and any failures in its report; this step turns a failure into a failed run, before anything is
built or published, with a message that names the metric that fell.

Reads  {lake}/reports/ranking/dt=D/report.json
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import SparkSession

from conf import Config
from spark_jobs import lake
from spark_jobs.offline.gate import GateError

log = logging.getLogger(__name__)


def decide(report: dict | None, run_date: dt.date, where: str) -> dict:
    """The gate's verdict from the ranking report; raises GateError when the run must stop."""
    if report is None:
        raise GateError(f"no ranking report for {run_date} at {where}: run the ranking step first")
    if report.get("skipped"):
        return {"job": "quality_gate", "run_date": run_date.isoformat(), "passed": True,
                "skipped": f"ranking skipped ({report['skipped']}); the snapshot serves ALS lists"}
    gate = report.get("gate") or {}
    if not gate.get("passed"):
        raise GateError(f"quality gate failed for {run_date}; nothing will be published: "
                        + "; ".join(gate.get("failures") or ["no figures recorded"])
                        + f". Look at the report {where}; to publish anyway, raise the gate's tolerances "
                        "or set gate.enabled false, and rerun the date")
    return {"job": "quality_gate", "run_date": run_date.isoformat(), "passed": True,
            "skipped": bool(gate.get("skipped")), "published": report.get("published", "ranked"),
            "why": gate.get("why"), "measured": gate.get("published_figures") or gate.get("measured", {}).get("ranked")}


def main(spark: SparkSession, config: Config, run_date: dt.date) -> dict:
    where = lake.report(config.paths.lake, "ranking", run_date)
    verdict = decide(lake.read_json(spark, where), run_date, where)
    log.info("quality gate %s: passed; publishing %s: %s", run_date, verdict.get("published", "the ALS lists"),
             verdict.get("why") or verdict.get("skipped"))
    return verdict
