"""The snapshot step: the run's Parquet outputs -> the immutable RocksDB snapshot `<date>-<digest>`.

read() turns the outputs into the builder's inputs, one DataFrame of (key, item_id, score, reason,
rank) per list column family:
user_recs  <- {lake}/curated/ranked/dt=D/ (its reason codes) when the ranking stage wrote it and its
             report says the quality gate passed, else als_candidates (reason "als"); a failed gate
             stops the build
similar    <- similar_items (reason "also_viewed" for co-occurrence, "similar_content" for content)
fbt        <- fbt_pairs (reason "also_bought")
popular    <- popularity, key "<list>:<scope>" ("recent:all", "trending:Home", ...), reason = the list
item_meta  <- the curated catalog of D: title, category, brand, price, in_stock, promoted, margin_tier
build() names the snapshot by a digest of the effective configuration and the input paths and
writes it with export/builder.py; main() (the chain's step) adds the quality gate's figures to its
manifest and records the name it built in {snapshots}/.built/<date> for the light steps after it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from conf import Config, config_digest
from export import builder, manifest
from export.format import CONTENT_REASON, POPULAR_KEY_SEPARATOR, SnapshotError, current
from models.metrics import list_quality
from spark_jobs import lake

META_FIELDS = ("title", "category", "brand", "price", "in_stock", "promoted", "margin_tier")


def read(spark: SparkSession, config: Config, run_date: dt.date) -> tuple[dict[str, DataFrame], DataFrame, dict]:
    """(lists per column family, item_meta rows, input paths) for run_date."""
    def dataset(name: str) -> str:
        path = lake.curated(config.paths.lake, name, run_date)
        if not lake.exists(spark, path):
            raise SnapshotError(f"no {name} for {run_date} under {path}: run `recs models --date {run_date}` first")
        return path

    ranked = lake.curated(config.paths.lake, "ranked", run_date)
    gate = (lake.read_json(spark, lake.report(config.paths.lake, "ranking", run_date)) or {}).get("gate")
    if gate is not None and not gate.get("passed"):
        raise SnapshotError(f"the ranking run of {run_date} failed its quality gate: "
                            f"{'; '.join(gate.get('failures', []))}. Nothing is built from it; fix the run and "
                            f"rerun `recs models --date {run_date}`")
    if lake.exists(spark, ranked):
        if gate is None:
            raise SnapshotError(f"{ranked} has no ranking report (an interrupted run?): rerun "
                                f"`recs models --date {run_date} --only ranking`")
        users_path, users_reason = ranked, "ranked"
    else:
        users_path, users_reason = dataset("als_candidates"), "als"
    inputs = {"user_recs": users_path, "similar": dataset("similar_items"), "fbt": dataset("fbt_pairs"),
              "popular": dataset("popularity"), "item_meta": dataset("catalog")}
    users = spark.read.parquet(users_path)
    reason = F.col("reason") if "reason" in users.columns else F.lit(users_reason)
    similar = spark.read.parquet(inputs["similar"])
    lists = {
        "user_recs": users.select(F.col("user_id").alias("key"), "item_id", "score", reason.alias("reason"), "rank"),
        "similar": similar.select(F.col("item_id").alias("key"), F.col("neighbour_id").alias("item_id"), "score",
                                  F.when(F.col("source") == "content", CONTENT_REASON).otherwise("also_viewed")
                                  .alias("reason"), "rank"),
        "fbt": spark.read.parquet(inputs["fbt"]).select(F.col("item_id").alias("key"), F.col("other_id")
                                                        .alias("item_id"), "score", F.lit("also_bought")
                                                        .alias("reason"), "rank"),
        "popular": spark.read.parquet(inputs["popular"]).select(
            F.concat_ws(POPULAR_KEY_SEPARATOR, "list", "scope").alias("key"), "item_id", "score",
            F.col("list").alias("reason"), "rank"),
    }
    catalog = spark.read.parquet(inputs["item_meta"])
    known = catalog.select("item_id")
    lists = {cf: rows.join(known, "item_id") for cf, rows in lists.items()}   # serve only catalog items
    item_meta = catalog.select(F.col("item_id").alias("key"), F.to_json(F.struct(*META_FIELDS)).alias("fields"))
    return lists, item_meta, inputs


def build(spark: SparkSession, config: Config, run_date: dt.date, metrics: dict | None = None) -> Path:
    """Build the snapshot of run_date from the lake; return its folder."""
    return write(spark, config, run_date, read(spark, config, run_date), metrics)


def write(spark: SparkSession, config: Config, run_date: dt.date, found: tuple, metrics: dict | None) -> Path:
    """Write the snapshot of what read() found for run_date; return its folder."""
    lists, item_meta, inputs = found
    digest = builder.inputs_digest(config_digest(config), inputs)
    meta = {"run": {"run_date": run_date.isoformat(), "digest": digest, "env": config.env, "inputs": inputs}}
    return builder.build(spark, Path(config.paths.snapshots), run_date, digest, lists, item_meta, meta,
                         config.snapshot, metrics)


def served_list_quality(spark: SparkSession, config: Config, found: tuple) -> dict:
    """Catalog coverage and diversity of every user list at gate.k (models.metrics.list_quality) of what read()
    found, and the live snapshot's figures as `previous`: the server exposes both as gauges, for monitoring/."""
    lists, _, inputs = found
    recs = lists["user_recs"].select(F.col("key").alias("user_id"), "item_id", "rank")
    figures = list_quality(recs, spark.read.parquet(inputs["item_meta"]), config.gate.k)
    root = Path(config.paths.snapshots)
    try:
        live = current(root)
        previous = (manifest.read(root / live).get("metrics") or {}).get("lists") or {} if live else {}
    except (OSError, ValueError, SnapshotError):
        previous = {}
    figures["previous"] = {key: previous[key] for key in ("coverage", "diversity") if key in previous}
    return figures


def built_marker(config: Config, run_date: dt.date) -> Path:
    """Where the snapshot step records the name it built for run_date (read by the light steps)."""
    return Path(config.paths.snapshots) / ".built" / run_date.isoformat()


def record_built(config: Config, run_date: dt.date, name: str) -> None:
    marker = built_marker(config, run_date)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(name + "\n")
    tmp.replace(marker)


def main(spark: SparkSession, config: Config, run_date: dt.date) -> dict:
    """The nightly snapshot step: build with the gate's figures in the manifest, record the name built."""
    ranking = lake.read_json(spark, lake.report(config.paths.lake, "ranking", run_date)) or {}
    gate = ranking.get("gate") or {}
    found = read(spark, config, run_date)
    metrics = {"lists": served_list_quality(spark, config, found)}
    if gate.get("measured"):
        metrics.update({"gate": gate.get("measured"), "holdout": gate.get("holdout"), "sources": gate.get("sources"),
                        "user_recs": ranking.get("published") or "als", "why": gate.get("why")})
    folder = write(spark, config, run_date, found, metrics)
    record_built(config, run_date, folder.name)
    return {"job": "snapshot", "run_date": run_date.isoformat(), "name": folder.name,
            "counts": manifest.read(folder)["counts"]}
