"""recs_nightly: the nightly chain for one logical date, from raw events to a published, exported snapshot.

has_input -> ingest -> interactions -> {popularity, item_similarity -> content, fbt_pairs, als} -> ranking
-> quality_gate -> snapshot -> validate -> publish -> export  (spark_jobs/steps.py holds the steps and their
docs; content blends item_similarity's neighbours into the product page's lists, so it runs after it).
Beside it: ship_logs (the lookup server's closed impression and feedback logs into the raw zone) and
{ingest, ship_logs} -> experiment_report (the A/B report). Nothing waits for those two, so they never
hold up a publish.

A failed task (after its last retry) is reported by Airflow's own callbacks: one log line that names the
task, the run and the date (`on_failure_callback`, in the task's log), and one for the failed run (the DAG's
callback, in the dag-processor's log). Point them at a pager by replacing `report_failure`.

Spark steps run `recs.py step <name> --date D` through SparkSubmitOperator on the connection
`airflow.spark_conn_id` (local[2] from `make airflow`; yarn, spark:// or k8s:// by editing the
connection); the light steps (validate, publish, export) run in the worker. Every task is
idempotent for its date, and a failed task stops everything downstream: nothing publishes.

Params (the Trigger form in the UI; every one may stay empty): `date` runs another date than the
logical one (a rebuild), `env` picks the configuration `conf/ENV.yaml`, `config` layers one more YAML
file on top. For a range of dates, use Airflow's backfill (UI: Trigger, then Backfill, or
`airflow backfill create --dag-id recs_nightly --from-date A --to-date B`): each date runs this DAG; a
rebuild of a date older than the live snapshot's is built and exported but not made live.

Wiring only: this file imports the configuration and the step list, never Spark or the models.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.standard.operators.python import PythonOperator, ShortCircuitOperator
from airflow.sdk import DAG, Param

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from conf import load_config  # noqa: E402
from conf.loader import available_envs  # noqa: E402
from spark_jobs.session import spark_environment, spark_settings  # noqa: E402
from spark_jobs.steps import STEPS  # noqa: E402

DATE = "{{ params.date or ds }}"
CONFIG = load_config()          # $RECS_ENV / $RECS_CONFIG of the Airflow processes: schedule, retries, Spark settings


def run_light_step(step: str, date: str, env: str, config: str) -> dict:
    """A light step in the worker (no Spark): validate, publish or export the date's snapshot."""
    from spark_jobs.chain import run_step  # at run time only: it imports Spark

    logging.getLogger("recs").info("step %s for %s (env %s, config %s)", step, date, env, config or "-")
    return run_step(step, load_config(env=env, config_file=config or None), dt.date.fromisoformat(date))


CONFIG_ARG = "{{ params.config or '' }}"      # an empty param renders as no file (not the text "None")


def has_input(date: str, env: str, config: str) -> bool:
    """False (every later task skipped, the reason logged) when the run date has no raw events."""
    report = run_light_step("has_input", date, env, config)
    if report["found"] is False:
        logging.getLogger("recs").warning("%s: skipping the run", report["why"])
    return report["found"] is not False


def report_failure(context) -> None:
    """Airflow's failure callback (task and DAG level): one log line naming what failed, for which run."""
    ti, run = context.get("ti") or context.get("task_instance"), context.get("dag_run")
    task = getattr(ti, "task_id", None) or "(the run)"
    run_id = getattr(run, "run_id", None) or getattr(ti, "run_id", "?")
    params = context.get("params") or {}
    logging.getLogger("recs.alerts").error(
        "RECS TASK FAILED: dag recs_nightly, task %s, run %s, date %s, try %s: %s", task, run_id,
        params.get("date") or context.get("ds"), getattr(ti, "try_number", "?"),
        str(context.get("exception") or context.get("reason") or "see the task log")[:500])


def make_task(step, settings):
    args = {"task_id": step.name, "doc_md": f"**{step.name}**: {step.doc}"}
    if step.name == "has_input":
        return ShortCircuitOperator(python_callable=has_input, op_kwargs={
            "date": DATE, "env": "{{ params.env }}", "config": CONFIG_ARG}, **args)
    if not step.spark:
        return PythonOperator(python_callable=run_light_step, op_kwargs={
            "step": step.name, "date": DATE, "env": "{{ params.env }}", "config": CONFIG_ARG}, **args)
    return SparkSubmitOperator(
        application=str(PROJECT_ROOT / "recs.py"),
        application_args=["--env", "{{ params.env }}", "--config", CONFIG_ARG,
                          "step", step.name, "--date", DATE],
        conn_id=settings.spark_conn_id,
        name=f"recs-{step.name}",
        conf=spark_settings(CONFIG.spark),
        env_vars=spark_environment(CONFIG.spark),
        **args)


with DAG(
    dag_id="recs_nightly",
    description="Nightly recommendations: Spark jobs -> ranked lists -> quality gate -> RocksDB snapshot -> publish",
    doc_md=__doc__,
    schedule=CONFIG.airflow.schedule,
    start_date=dt.datetime.combine(CONFIG.airflow.start_date, dt.time(), tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["recs"],
    on_failure_callback=report_failure,
    params={
        "date": Param(None, type=["null", "string"], pattern=r"^\d{4}-\d{2}-\d{2}$",
                      description="run date YYYY-MM-DD; empty: the logical date"),
        "env": Param(os.environ.get("RECS_ENV") or CONFIG.env, type="string", enum=available_envs(),
                     description="configuration environment (conf/<env>.yaml)"),
        "config": Param(os.environ.get("RECS_CONFIG") or None, type=["null", "string"],
                        description="an extra YAML file layered on top (absolute path); empty: none"),
    },
    default_args={
        "owner": CONFIG.airflow.owner,
        "retries": CONFIG.airflow.retries,
        "retry_delay": dt.timedelta(minutes=CONFIG.airflow.retry_delay_minutes),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=CONFIG.airflow.max_retry_delay_minutes),
        "execution_timeout": dt.timedelta(minutes=CONFIG.airflow.task_timeout_minutes),
        "on_failure_callback": report_failure,
    },
) as dag:
    tasks = {step.name: make_task(step, CONFIG.airflow) for step in STEPS}
    for step in STEPS:
        for upstream in step.upstream:
            tasks[upstream] >> tasks[step.name]
