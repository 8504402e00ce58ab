"""Build the SparkSession from configuration: local by default, any cluster master by config."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

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
        "spark.sql.codegen.wholeStage": str(config.whole_stage_codegen).lower(),
        "spark.sql.codegen.cache.maxEntries": str(config.codegen_cache_entries),
        "spark.sql.codegen.hugeMethodLimit": str(config.codegen_huge_method_limit),
    }
    if config.master.startswith("local"):
        settings["spark.local.dir"] = config.local_dir or tempfile.gettempdir()
        settings["spark.driver.host"] = "127.0.0.1"
    elif config.local_dir:
        settings["spark.local.dir"] = config.local_dir
    if config.event_log_dir:
        folder = config.event_log_dir
        settings["spark.eventLog.enabled"] = "true"
        settings["spark.eventLog.dir"] = folder if "://" in folder else f"file://{folder}"
    settings.update({key: str(value).lower() if isinstance(value, bool) else str(value)
                     for key, value in config.extra.items()})
    return settings


LOG4J2 = """# written by spark_jobs/session.py: the driver JVM's log, WARN and above, to a file
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = {path}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{yy/MM/dd HH:mm:ss}} %p %c{{1}}: %m%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
logger.parquet.name = org.apache.parquet
logger.parquet.level = error
"""


def log_file(config: SparkConfig) -> Path | None:
    """Where the driver JVM's log goes (None: the terminal)."""
    return Path(config.log_dir) / "spark.log" if config.log_dir else None


def log_settings(config: SparkConfig) -> dict[str, str]:
    """spark.driver.extraJavaOptions that send the driver JVM's log4j2 output to log_file(config)."""
    path = log_file(config)
    if path is None or not str(config.log_dir).startswith("/"):
        return {}
    path.parent.mkdir(parents=True, exist_ok=True)
    properties = path.with_name("log4j2.properties")
    properties.write_text(LOG4J2.format(path=path))
    option = f"-Dlog4j2.configurationFile=file:{properties}"
    extra = str(config.extra.get("spark.driver.extraJavaOptions", ""))
    return {"spark.driver.extraJavaOptions": f"{extra} {option}".strip()}


def get_spark(config: SparkConfig, app_name: str | None = None):
    """Return the SparkSession for `config`, creating it on first use.

    Args:
        config: the `spark` section of the configuration.
        app_name: shown in the Spark UI; default config.app_name.

    Returns:
        A pyspark.sql.SparkSession bound to config.master.
    """
    os.environ.update(spark_environment(config))
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name or config.app_name)
    if SUBMITTED not in os.environ:      # under spark-submit the master is the one it was given (Airflow's connection)
        builder = builder.master(config.master)
    settings = spark_settings(config)
    if SUBMITTED not in os.environ and SparkContext._active_spark_context is None:
        settings.update(log_settings(config))     # the JVM is not started yet: its log can still go to a file
    for key, value in settings.items():
        builder = builder.config(key, value)
    if config.event_log_dir and "://" not in config.event_log_dir:     # Spark refuses to start without the folder
        Path(config.event_log_dir).mkdir(parents=True, exist_ok=True)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    log.info("Spark %s on %s", spark.version, spark.sparkContext.master)
    return spark
