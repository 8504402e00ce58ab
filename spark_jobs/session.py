"""Build the SparkSession from configuration: local by default, any cluster master by config."""

from __future__ import annotations

import logging
import os
import sys
import tempfile

from conf.schema import SparkConfig

log = logging.getLogger(__name__)
SUBMITTED = "PYSPARK_GATEWAY_PORT"   # set when spark-submit started this Python driver


def spark_environment(config: SparkConfig) -> dict[str, str]:
    """Environment variables Spark needs so workers run the project's interpreter."""
    python = config.python or sys.executable
    env = {"PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python}
    if config.master.startswith("local"):
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
    return env


def spark_settings(config: SparkConfig) -> dict[str, str]:
    """Every spark.* setting the session gets, extras last so they win."""
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(config.shuffle_partitions),
        "spark.driver.memory": config.driver_memory,
        "spark.ui.enabled": str(config.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.pyspark.python": config.python or sys.executable,
        # Parquet timestamps as plain INT64 micros: readable by pyarrow, pandas and other teams.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    }
    if config.master.startswith("local"):
        settings["spark.local.dir"] = config.local_dir or tempfile.gettempdir()
        settings["spark.driver.host"] = "127.0.0.1"
    elif config.local_dir:
        settings["spark.local.dir"] = config.local_dir
    settings.update({key: str(value).lower() if isinstance(value, bool) else str(value)
                     for key, value in config.extra.items()})
    return settings


def get_spark(config: SparkConfig, app_name: str | None = None):
    """Return the SparkSession for `config`, creating it on first use.

    Args:
        config: the `spark` section of the configuration.
        app_name: shown in the Spark UI; default config.app_name.

    Returns:
        A pyspark.sql.SparkSession bound to config.master.
    """
    os.environ.update(spark_environment(config))
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name or config.app_name)
    if SUBMITTED not in os.environ:      # under spark-submit the master is the one it was given (Airflow's connection)
        builder = builder.master(config.master)
    for key, value in spark_settings(config).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    log.info("Spark %s on %s", spark.version, spark.sparkContext.master)
    return spark
