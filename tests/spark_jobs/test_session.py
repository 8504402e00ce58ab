"""The Spark session helper: local by default, any master from configuration, the project's Python."""

from __future__ import annotations

import sys

import pytest

from conf import load_config
from spark_jobs.session import spark_environment, spark_settings


@pytest.mark.parametrize("master", ["local[2]", "local[*]", "spark://10.1.2.3:7077", "yarn",
                                    "k8s://https://k8s.example:6443"])
def test_any_master_from_configuration(master):
    config = load_config(env="local", environ={"RECS_SPARK__MASTER": master}).spark
    settings = spark_settings(config)
    assert config.master == master
    assert settings["spark.sql.session.timeZone"] == "UTC"
    assert ("spark.driver.host" in settings) == master.startswith("local")


def test_workers_use_the_projects_interpreter_unless_configured():
    config = load_config(env="local", environ={}).spark
    env = spark_environment(config)
    assert env["PYSPARK_PYTHON"] == sys.executable == spark_settings(config)["spark.pyspark.python"]
    cluster = load_config(env="local", environ={"RECS_SPARK__PYTHON": "/opt/venv/bin/python"}).spark
    assert spark_environment(cluster)["PYSPARK_PYTHON"] == "/opt/venv/bin/python"


def test_extra_settings_win():
    config = load_config(env="cluster", environ={}).spark
    settings = spark_settings(config)
    assert settings["spark.executor.memory"] == "8g"
    assert settings["spark.sql.shuffle.partitions"] == "200"
    typed = load_config(env="local", environ={}, overrides={
        "spark.extra": {"spark.executor.cores": 4, "spark.dynamicAllocation.enabled": True}}).spark
    assert spark_settings(typed)["spark.executor.cores"] == "4"
    assert spark_settings(typed)["spark.dynamicAllocation.enabled"] == "true"


@pytest.mark.spark
def test_the_session_runs_in_utc_on_the_projects_python(spark):
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    python = spark.sparkContext.parallelize([0], 1).map(lambda _: __import__("sys").executable).first()
    assert python == sys.executable


@pytest.mark.slow
def test_a_session_with_event_logs_starts_when_their_folder_does_not_exist_yet(tmp_path):
    """Spark refuses to start when spark.eventLog.dir is missing (a fresh clone, or a task under Airflow)."""
    import subprocess

    folder = tmp_path / "not-yet" / "spark-events"
    script = ("from conf import load_config; from spark_jobs.session import get_spark; "
              f"spark = get_spark(load_config(env='local', overrides={{'spark.event_log_dir': {str(folder)!r}, "
              f"'spark.log_dir': {str(tmp_path / 'logs')!r}}}).spark); spark.range(3).count(); spark.stop()")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [p.name.startswith(("local-", "eventlog_v2_local-")) for p in folder.iterdir()] == [True]


@pytest.mark.spark
def test_asking_a_started_session_again_makes_no_log_folder(spark, tmp_path):
    """The driver's log file is chosen when its JVM starts; a later get_spark (an in-process command in a test,
    a second step of the chain) returns the running session and must not create its own config's log folder."""
    from conf import load_config
    from spark_jobs.session import get_spark

    folder = tmp_path / "spark-logs"
    again = get_spark(load_config(env="local", overrides={"spark.log_dir": str(folder)}).spark)
    assert again.sparkContext is spark.sparkContext
    assert not folder.exists()


def test_code_generation_follows_the_configuration():
    """The samples' environments run without whole-stage code generation, the larger shops with it (Spark's
    default); every one keeps 10,000 generated classes."""
    for env in ("local", "retail", "standalone"):
        settings = spark_settings(load_config(env=env, environ={}).spark)
        assert settings["spark.sql.codegen.wholeStage"] == "false", env
        assert settings["spark.sql.codegen.cache.maxEntries"] == "10000", env
    for env in ("retail_full", "cluster", "synthetic_1m"):
        settings = spark_settings(load_config(env=env, environ={}).spark)
        assert settings["spark.sql.codegen.wholeStage"] == "true", env
        assert settings["spark.sql.codegen.cache.maxEntries"] == "10000", env
        assert settings["spark.sql.codegen.hugeMethodLimit"] == "8000", env
    assert spark_settings(load_config(env="local", environ={"RECS_SPARK__WHOLE_STAGE_CODEGEN": "true"}).spark)[
        "spark.sql.codegen.wholeStage"] == "true"


@pytest.mark.spark
def test_the_running_session_fuses_no_stages(spark):
    """The test session is built from the local defaults: its plans hold no WholeStageCodegen node."""
    frame = spark.range(100).selectExpr("id % 7 AS k", "id * 2 AS v").groupBy("k").sum("v")
    assert sorted(r[0] for r in frame.collect()) == list(range(7))
    plan = frame._jdf.queryExecution().executedPlan().toString()      # the final plan, once run
    assert spark.conf.get("spark.sql.codegen.wholeStage") == "false"
    assert "HashAggregate" in plan and "*(" not in plan               # a fused stage prints as "*(n) Operator"
