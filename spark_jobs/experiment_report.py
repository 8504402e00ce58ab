"""experiment_report: the running A/B test's outcome per variant, with the user as the unit of analysis.

Inputs (the last `experiment_report.days` days up to the run date):
- `{logs_raw}/impressions/dt=D/` and `{logs_raw}/feedback/dt=D/` (paths.logs_raw, default paths.raw): the
  lookup server's logs, shipped by the ship_logs step (export/log_shipping.py);
- `{lake}/curated/events/dt=D/`: the shop's purchases (their optional request_id too).

A user is exposed from their first home-page answer in the experiment and stays in the variant it
showed (impressions in another variant, after a change of shares, are left out and counted).
Clicks are feedback of type click on the user's own impressions (request_id). A purchase converts
when a shown item is bought within `attribution_hours` of the answer that showed it: by request_id
first, else by the same user and item. Purchases reported twice (feedback and the order log, same
user, item and day) count once.

transform() reduces all of it in Spark to per-variant sums and a small day x day table; the
statistics (models/experiment_stats.py) run on those, so nothing per user reaches the driver.
Outputs: `{lake}/reports/experiment_report/dt=D/report.json`, `report.md` and `lift.png` (the
cumulative daily conversion lift with its 95% band); log lines that cannot be read are quarantined
to `{lake}/quarantine/experiment_logs/dt=D` with a reason and counted.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from conf import Config
from models import experiment_stats as stats
from spark_jobs import lake

log = logging.getLogger(__name__)
JOB = "experiment_report"
MALFORMED = "malformed_log_line"
IMPRESSION_SCHEMA = T.StructType([
    T.StructField("time", T.DoubleType()), T.StructField("request_id", T.StringType()),
    T.StructField("endpoint", T.StringType()), T.StructField("user_id", T.StringType()),
    T.StructField("experiment", T.StringType()), T.StructField("variant", T.StringType()),
    T.StructField("items", T.ArrayType(T.StringType())), T.StructField("_corrupt", T.StringType())])
FEEDBACK_SCHEMA = T.StructType([
    T.StructField("time", T.DoubleType()), T.StructField("request_id", T.StringType()),
    T.StructField("user_id", T.StringType()), T.StructField("item_id", T.StringType()),
    T.StructField("type", T.StringType()), T.StructField("quantity", T.LongType()),
    T.StructField("value", T.DoubleType()), T.StructField("_corrupt", T.StringType())])
REQUIRED = {"impressions": ("time", "request_id", "user_id", "variant", "items"),
            "feedback": ("time", "request_id", "user_id", "item_id", "type")}


def read_log(spark: SparkSession, paths: list[str], schema: T.StructType, kind: str) -> tuple[DataFrame, DataFrame]:
    """(good rows, bad rows with reason) of shipped JSON-lines logs."""
    if not paths:
        empty = spark.createDataFrame([], schema)
        return empty.drop("_corrupt"), empty.select(F.lit(MALFORMED).alias("reason"), "_corrupt")
    rows = (spark.read.schema(schema).option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", "_corrupt")
            .json(paths))
    bad = F.col("_corrupt").isNotNull()
    for name in REQUIRED[kind]:
        bad = bad | F.col(name).isNull()
    rows = rows.withColumn("_bad", bad).cache()
    good = rows.filter(~F.col("_bad")).drop("_corrupt", "_bad")
    quarantined = rows.filter(F.col("_bad")).select(
        F.lit(MALFORMED).alias("reason"),
        F.coalesce(F.col("_corrupt"), F.to_json(F.struct(*[c for c in schema.fieldNames() if c != "_corrupt"])))
        .alias("record"))
    return good, quarantined


def transform(impressions: DataFrame, feedback: DataFrame, orders: DataFrame, experiment: str,
              variants: list[str], attribution_seconds: float) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(per-variant sums, daily table, counts) of one experiment.

    Args:
        impressions: time (epoch s), request_id, user_id, experiment, variant, items (the logs).
        feedback: time, request_id, user_id, item_id, type, quantity, value.
        orders: purchases of the order log: time, user_id, item_id, value, request_id (nullable).

    Returns:
        sums: variant + models.experiment_stats.SUMS, one row per variant with exposed users;
        daily: variant, first_day, conversion_day (null: not converted), users, revenue;
        counts: one row: impressions, other_variant_impressions, clicks, purchases, by_request, by_user_item.
    """
    mine = (impressions.filter((F.col("experiment") == experiment) & F.col("variant").isin(*variants))
            .dropDuplicates(["request_id", "user_id", "time"]))
    first = Window.partitionBy("user_id").orderBy("time", "request_id")
    assigned = mine.withColumn("_n", F.row_number().over(first)).filter("_n = 1").select(
        "user_id", F.col("variant").alias("assigned"), F.col("time").alias("first_time"))
    shown = mine.join(assigned, "user_id").withColumn("_same", F.col("variant") == F.col("assigned"))
    kept = shown.filter("_same").select("request_id", "user_id", "variant", "time", "items").cache()

    per_user = kept.groupBy("user_id", "variant").agg(F.count(F.lit(1)).alias("impressions"),
                                                      F.min("time").alias("first_time"))
    clicks = (feedback.filter(F.col("type") == "click").select("request_id", "user_id")
              .join(kept.select("request_id", "user_id").distinct(), ["request_id", "user_id"])
              .groupBy("user_id").agg(F.count(F.lit(1)).alias("clicks")))

    listed = kept.select("request_id", "user_id", F.col("time").alias("shown_at"),
                         F.explode("items").alias("item_id")).distinct()
    reported = feedback.filter(F.col("type") == "purchase").select(
        "time", "user_id", "item_id", F.coalesce("value", F.lit(0.0)).alias("value"), "request_id")
    purchases = (reported.unionByName(orders.select("time", "user_id", "item_id", "value", "request_id"))
                 .withColumn("day", F.to_date(F.from_unixtime("time")))
                 .groupBy("user_id", "item_id", "day")
                 .agg(F.min("time").alias("time"), F.max("value").alias("value"),
                      F.max("request_id").alias("request_id"))
                 .withColumn("purchase", F.monotonically_increasing_id()).cache())
    in_window = ((F.col("time") >= F.col("shown_at")) & (F.col("time") <= F.col("shown_at") + attribution_seconds))
    by_request = (purchases.filter(F.col("request_id").isNotNull())
                  .join(listed, ["request_id", "user_id", "item_id"]).filter(in_window)
                  .select("purchase", "user_id", "time", "value").distinct())
    by_user_item = (purchases.join(by_request.select("purchase"), "purchase", "left_anti")
                    .join(listed.drop("request_id"), ["user_id", "item_id"]).filter(in_window)
                    .select("purchase", "user_id", "time", "value").dropDuplicates(["purchase"]))
    attributed = by_request.dropDuplicates(["purchase"]).withColumn("how", F.lit("request")).unionByName(
        by_user_item.withColumn("how", F.lit("user_item"))).cache()
    converted = attributed.groupBy("user_id").agg(F.min("time").alias("converted_at"),
                                                  F.sum("value").alias("revenue"))

    users = (per_user.join(clicks, "user_id", "left").join(converted, "user_id", "left")
             .fillna(0, ["clicks"]).fillna(0.0, ["revenue"])
             .withColumn("converted", F.col("converted_at").isNotNull().cast("double"))
             .withColumn("impressions", F.col("impressions").cast("double"))
             .withColumn("clicks", F.col("clicks").cast("double")))
    sums = users.groupBy("variant").agg(
        F.count(F.lit(1)).cast("double").alias("users"), F.sum("converted").alias("converted"),
        F.sum("impressions").alias("impressions"), F.sum(F.col("impressions") ** 2).alias("impressions_sq"),
        F.sum("clicks").alias("clicks"), F.sum(F.col("clicks") ** 2).alias("clicks_sq"),
        F.sum(F.col("clicks") * F.col("impressions")).alias("clicks_impressions"),
        F.sum("revenue").alias("revenue"), F.sum(F.col("revenue") ** 2).alias("revenue_sq"))
    daily = users.groupBy(
        "variant", F.to_date(F.from_unixtime("first_time")).alias("first_day"),
        F.to_date(F.from_unixtime("converted_at")).alias("conversion_day"),
    ).agg(F.count(F.lit(1)).alias("users"), F.sum("revenue").alias("revenue"))
    counts = kept.agg(F.count(F.lit(1)).alias("impressions")).crossJoin(
        shown.agg(F.sum((~F.col("_same")).cast("long")).alias("other_variant_impressions"))).crossJoin(
        attributed.agg(F.sum((F.col("how") == "request").cast("long")).alias("by_request"),
                       F.sum((F.col("how") == "user_item").cast("long")).alias("by_user_item"))).crossJoin(
        purchases.agg(F.count(F.lit(1)).alias("purchases")))
    return sums, daily, counts


def cumulative(daily_rows: list[dict], variants: list[str], control: str, days: list[dt.date],
               alpha: float) -> list[dict]:
    """Per day: users exposed so far and converted so far per variant, and each variant's relative conversion
    lift over control with its interval (the same two-proportion test as the report)."""
    out = []
    for day in days:
        seen = {v: 0.0 for v in variants}
        won = {v: 0.0 for v in variants}
        for row in daily_rows:
            if row["first_day"] <= day:
                seen[row["variant"]] += row["users"]
                if row["conversion_day"] is not None and row["conversion_day"] <= day:
                    won[row["variant"]] += row["users"]
        entry = {"day": day.isoformat(), "users": seen, "converted": won, "lift": {}}
        for variant in variants:
            if variant != control and seen[variant] and seen[control] and won[control]:
                test = stats.two_proportions(won[control], seen[control], won[variant], seen[variant], alpha)
                entry["lift"][variant] = {k: test[k] for k in ("relative", "relative_low", "relative_high",
                                                               "p_value")}
        out.append(entry)
    return out


def _fmt(value, kind: str = "n") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return {"pct": f"{value:.2%}", "money": f"{value:.2f}", "p": f"{value:.3g}",
            "rel": f"{value:+.1%}"}.get(kind, f"{value:,.0f}" if isinstance(value, int | float) else str(value))


def table(report: dict) -> str:
    """The report as Markdown: per variant figures, then each comparison against the control."""
    if not report.get("experiment"):
        return f"No experiment: {report.get('why', 'serve.experiment is not set')}"
    lines = [f"Experiment **{report['experiment']}**, {report['start']} .. {report['run_date']} "
             f"(control: {report['control']})", ""]
    srm = report["srm"]
    if not report["trustworthy"]:
        lines += [f"**UNTRUSTWORTHY: sample ratio mismatch** (chi-square p = {_fmt(srm['p_value'], 'p')} < "
                  f"{report['srm_alpha']}): exposed users {srm['observed']} against shares {srm['expected_share']}. "
                  "Find the cause (assignment, logging, bots) before reading any lift.", ""]
    else:
        lines += [f"Sample ratio check passed (chi-square p = {_fmt(srm['p_value'], 'p')}).", ""]
    lines += ["| variant | exposed users | impressions | clicks | CTR | conversion | revenue / user |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for name, v in report["variants"].items():
        lines.append(f"| {name} | {_fmt(v['users'])} | {_fmt(v['impressions'])} | {_fmt(v['clicks'])} | "
                     f"{_fmt(v['ctr'], 'pct')} | {_fmt(v['conversion'], 'pct')} | "
                     f"{_fmt(v['revenue_per_user'], 'money')} |")
    lines += ["", "| variant | metric | control | variant | difference (95% CI) | relative (95% CI) | p-value | "
                  "MDE |", "|---|---|---:|---:|---|---|---:|---:|"]
    kinds = {"conversion": "pct", "ctr": "pct", "revenue_per_user": "money"}
    for name, metrics in report["comparisons"].items():
        for metric, r in metrics.items():
            kind = kinds[metric]
            mde = _fmt(r.get("mde"), kind) if "mde" in r else "-"
            star = " *" if r["significant"] else ""
            lines.append(
                f"| {name} | {metric} | {_fmt(r['control'], kind)} | {_fmt(r['treatment'], kind)} | "
                f"{_fmt(r['diff'], kind)} ({_fmt(r['diff_low'], kind)} .. {_fmt(r['diff_high'], kind)}) | "
                f"{_fmt(r['relative'], 'rel')} ({_fmt(r['relative_low'], 'rel')} .. {_fmt(r['relative_high'], 'rel')}) "
                f"| {_fmt(r['p_value'], 'p')}{star} | {mde} |")
    needed = report.get("users_needed_per_variant")
    lines += ["", f"\\* significant at alpha = {report['alpha']}. MDE: the smallest difference detectable with "
                  f"{report['power']:.0%} power at the current sample size."]
    if needed:
        lines.append(f"Users needed per variant to detect a {report['planned_lift']:.0%} relative conversion lift: "
                     f"{needed:,} (smallest variant now: {min(v['users'] for v in report['variants'].values()):,}).")
    c = report["counts"]
    lines.append(f"Attributed purchases: {c['by_request']} by request_id, {c['by_user_item']} by user + item "
                 f"(of {c['purchases']}); quarantined log lines: {report['quarantined']}; impressions outside "
                 f"the user's first variant: {c['other_variant_impressions']}.")
    return "\n".join(lines)


def plot(report: dict) -> bytes:
    """PNG: each variant's cumulative relative conversion lift over control by day, with its 95% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    for variant in [v for v in report["variants"] if v != report["control"]]:
        points = [(dt.date.fromisoformat(d["day"]), d["lift"][variant]) for d in report["daily"]
                  if variant in d["lift"] and not math.isnan(d["lift"][variant]["relative"])]
        if not points:
            continue
        days = [p[0] for p in points]
        ax.plot(days, [100 * p[1]["relative"] for p in points], marker="o", label=f"{variant} vs {report['control']}")
        ax.fill_between(days, [max(100 * p[1]["relative_low"], -100.0) for p in points],   # no lift is under -100%
                        [100 * p[1]["relative_high"] for p in points], alpha=0.2)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_ylabel("conversion lift, % (95% CI)")
    ax.set_title(f"{report['experiment']}: cumulative lift by day" + ("" if report["trustworthy"] else " (SRM!)"))
    ax.legend(loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def read_orders(spark: SparkSession, config: Config, dates: list[dt.date]) -> DataFrame:
    """Purchases of the curated order log over dates (request_id when the input had it)."""
    schema = "time double, user_id string, item_id string, value double, request_id string"
    paths = [p for p in (lake.curated(config.paths.lake, "events", d) for d in dates) if lake.exists(spark, p)]
    if not paths:
        return spark.createDataFrame([], schema)
    events = spark.read.parquet(*paths).filter(F.col("event_type") == "purchase")
    request = F.col("request_id") if "request_id" in events.columns else F.lit(None).cast("string")
    return events.select(F.unix_timestamp("event_time").cast("double").alias("time"), "user_id", "item_id",
                         (F.coalesce("price", F.lit(0.0)) * F.col("quantity")).alias("value"),
                         request.alias("request_id"))


def main(spark: SparkSession, config: Config, run_date: dt.date) -> dict:
    settings, experiment = config.experiment_report, config.serve.experiment
    path = lake.report(config.paths.lake, JOB, run_date)
    if experiment is None or not settings.enabled:
        why = "serve.experiment is not set" if experiment is None else "experiment_report.enabled is false"
        report = {"job": JOB, "run_date": run_date.isoformat(), "experiment": None, "why": why}
        lake.write_json(spark, path, report)
        return report
    variants = list(experiment.variants)
    control = settings.control or variants[0]
    start = run_date - dt.timedelta(days=settings.days - 1)
    dates = [start + dt.timedelta(days=n) for n in range(settings.days)]

    def shipped(kind: str) -> list[str]:
        found = lake.list_dates(spark, f"{config.paths.logs_raw.rstrip('/')}/{kind}")
        return [lake.partition(config.paths.logs_raw, kind, d) for d in found if start <= d <= run_date]

    impressions, bad_impressions = read_log(spark, shipped("impressions"), IMPRESSION_SCHEMA, "impressions")
    feedback, bad_feedback = read_log(spark, shipped("feedback"), FEEDBACK_SCHEMA, "feedback")
    quarantined = bad_impressions.unionByName(bad_feedback)
    n_bad = quarantined.count()
    if n_bad:
        quarantined.coalesce(1).write.mode("overwrite").parquet(lake.quarantine(config.paths.lake,
                                                                                "experiment_logs", run_date))
    sums_df, daily_df, counts_df = transform(impressions, feedback, read_orders(spark, config, dates),
                                             experiment.name, variants, settings.attribution_hours * 3600)
    sums = {row["variant"]: {k: float(row[k] or 0.0) for k in stats.SUMS} for row in sums_df.collect()}
    shares = {name: v.share for name, v in experiment.variants.items()}
    analysis = stats.analyse(sums, shares, control, settings.alpha, settings.power, settings.srm_alpha,
                             settings.planned_lift)
    daily_rows = [row.asDict() for row in daily_df.collect()]     # at most variants x days x days rows
    counts = {k: int(v or 0) for k, v in counts_df.first().asDict().items()}
    report = {"job": JOB, "run_date": run_date.isoformat(), "start": start.isoformat(), "experiment": experiment.name,
              "srm_alpha": settings.srm_alpha, "attribution_hours": settings.attribution_hours, **analysis,
              "daily": cumulative(daily_rows, variants, control, dates, settings.alpha), "counts": counts,
              "quarantined": n_bad}
    report["daily"] = [d for d in report["daily"] if any(d["users"].values())]
    folder = path.rsplit("/", 1)[0]
    lake.write_bytes(spark, f"{folder}/report.md", (table(report) + "\n\n![lift](lift.png)\n").encode())
    lake.write_bytes(spark, f"{folder}/lift.png", plot(report))
    lake.write_json(spark, path, _finite(report))
    log.info("experiment %s: %s", experiment.name, "trustworthy" if report["trustworthy"] else "SAMPLE RATIO MISMATCH")
    return report


def _finite(value):
    """NaN and infinities as null: report.json stays valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
