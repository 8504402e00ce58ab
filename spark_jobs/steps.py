"""The nightly chain's steps: names, order, docs. Spark-free, so the Airflow DAG reads it while it parses.

Every list of steps derives from STEPS: the Airflow DAG's tasks (dags/recs_nightly.py), `recs run`,
`recs step NAME`, `recs models --only` (MODEL_JOBS), and the functions that run them
(spark_jobs/chain.py, RUNNERS, which must cover exactly these names).

Spark steps get a SparkSession; light steps (validate, publish, export, ship_logs) work on local folders
(and S3) only. Every step is idempotent for its run date: it overwrites that date's outputs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    name: str
    upstream: tuple[str, ...]
    spark: bool
    stage: str      # input | models (`recs models`) | publish | report
    doc: str


class ChainError(RuntimeError):
    """A step cannot run: unknown step, or an earlier step's output is missing."""


SOURCE_STEPS: tuple[Step, ...] = (
    Step("popularity", ("interactions",), True, "models",
         "Popular and trending lists: overall, per category and per segment (country, device) for cold start."),
    Step("item_similarity", ("interactions",), True, "models",
         "Item-item co-occurrence neighbours (shrunk cosine) for product pages."),
    Step("fbt_pairs", ("interactions",), True, "models",
         "Frequently-bought-together pairs from orders (support, confidence, lift) for product and cart pages."),
    Step("content", ("item_similarity",), True, "models",
         "Content neighbours from title, category, brand and price: new items get similar lists. "
         "Blends them with item_similarity's neighbours into the product page's similar_items, so it runs "
         "after that step."),
    Step("als", ("interactions",), True, "models",
         "ALS factors and per-user ANN candidates (the lists served when ranking is skipped)."),
)
MODELS = tuple(step.name for step in SOURCE_STEPS)      # the source jobs the ranking step waits for
STEPS: tuple[Step, ...] = (
    Step("has_input", (), False, "input",
         "Checks that raw events exist for the run date (`{raw}/events/dt=D`). Without them (a scheduled run of a "
         "day whose data has not landed yet, the first run after switching the DAG on) every later task is "
         "skipped and the log says why, instead of failing, retrying and holding up the runs behind it; "
         "trigger a date that has data. `recs run` stops there with the same message."),
    Step("ingest", ("has_input",), True, "input",
         "Validate the run date's raw events and the catalog as of that date; quarantine bad rows with a "
         "reason; write `curated/events|catalog/dt=D`. Also ingests earlier raw dates of the lookback window "
         "that have no curated partition yet (a first run, a gap), all in one Spark pass, each date with its own "
         "outputs, quarantine and report. Fails when the quarantined share passes "
         "`ingest.max_bad_share`."),
    Step("interactions", ("ingest",), True, "input",
         "Per (user, item) weights, decayed from the end of the run date over the lookback window."),
    *SOURCE_STEPS,
    Step("ranking", MODELS, True, "models",
         "Candidates from every source -> features -> the XGBoost ranker -> re-ranking rules and reason codes: "
         "the final per-user lists. First the same pipeline, trained without the last `gate.holdout_days` "
         "days, is scored on them against the baselines and the previous run; the figures go into the report."),
    Step("quality_gate", ("ranking",), True, "models",
         "Fails the run when the ranked lists fell below a baseline or more than the tolerance below the "
         "previous run (the ranking report's figures): the date's ranked lists are removed and nothing publishes."),
    Step("snapshot", ("quality_gate",), True, "publish",
         "Build the immutable RocksDB snapshot `<date>-<digest>` from the run's outputs, with the gate's "
         "figures in MANIFEST.json. The same date, config and inputs give the same name."),
    Step("validate", ("snapshot",), False, "publish",
         "Check every file's sha256, the column families, the counts and a sample of decoded values."),
    Step("publish", ("validate",), False, "publish",
         "Point CURRENT at the snapshot (atomic rename); the lookup servers hot-swap to it. A rebuild of a "
         "date older than the live snapshot's is kept but not made live."),
    Step("export", ("publish",), False, "publish",
         "Copy the snapshot to S3 (`s3.bucket`) or, without a bucket, to the local `s3.local_dir`; "
         "MANIFEST.json last."),
    Step("ship_logs", (), False, "report",
         "Copy the lookup server's closed impression and feedback logs (`serve.impressions_dir`/closed) to "
         "`{paths.logs_raw}/impressions|feedback/dt=` (a folder or S3) and move them to shipped/: a rerun never "
         "duplicates a line. Needs nothing upstream and blocks nothing."),
    Step("experiment_report", ("ingest", "ship_logs"), True, "report",
         "The running A/B test (`serve.experiment`) per variant: exposed users, CTR, conversion, revenue per "
         "user, differences with 95% intervals and p-values, sample-ratio check, MDE; `report.json`, `report.md` "
         "and `lift.png` under `{lake}/reports/experiment_report/dt=`. Nothing waits for it: a failure never "
         "holds up a publish."),
)
BY_NAME = {step.name: step for step in STEPS}
MODEL_JOBS = tuple(step.name for step in STEPS if step.stage == "models")   # `recs models`, in order
