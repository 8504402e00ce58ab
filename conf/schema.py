"""Typed configuration: one pydantic model per section of conf/*.yaml."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

EVENT_TYPES = ("view", "add_to_cart", "remove_from_cart", "purchase")


class Section(BaseModel):
    """Base for every section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class PathsConfig(Section):
    """Where data lives. Relative paths are taken from the project root; URIs (s3a://...) as given."""

    raw: str = Field(description="root of raw input: {raw}/events/dt=YYYY-MM-DD/, {raw}/catalog/dt=.../")
    lake: str = Field(description="root of the run outputs: {lake}/curated/<dataset>/dt=YYYY-MM-DD/")
    snapshots: str = "var/snapshots"
    logs_raw: str | None = Field(None, description="where ship_logs puts the lookup server's logs "
                                 "({logs_raw}/impressions|feedback/dt=) and experiment_report reads them; default "
                                 "raw (the committed samples' envs point it under var/)")


class SparkConfig(Section):
    """How to reach Spark. `master` is local[N], spark://host:port, yarn or k8s://https://host:port."""

    master: str = "local[2]"
    app_name: str = "recs"
    shuffle_partitions: int = Field(4, ge=1)
    driver_memory: str = "2g"
    python: str | None = Field(None, description="worker interpreter; default: the one running recs")
    local_dir: str | None = None
    ui_enabled: bool = False
    log_dir: str | None = Field("var/spark-logs", description="the driver JVM's own log (log4j2, WARN and above) goes "
                                "to <log_dir>/spark.log instead of the terminal; null: the terminal")
    event_log_dir: str | None = Field(None, description="Spark event logs here (a folder or a URI), for the history "
                                      "server (`make spark-cluster`); null: off")
    whole_stage_codegen: bool = Field(True, description="Spark SQL's whole-stage code generation; off for a "
                                      "sample-sized shop, whose ~1,000 small stages each compile and JIT fresh "
                                      "classes that cost its cores more than the fused code saves (README 'The "
                                      "chain's speed on one machine'); on (Spark's default) from Online Retail's "
                                      "size up, where it measured the same")
    codegen_cache_entries: int = Field(10_000, ge=100, description="generated classes kept for reuse "
                                       "(spark.sql.codegen.cache.maxEntries; Spark's own default is 100, "
                                       "fewer than the chain's distinct plans)")
    codegen_huge_method_limit: int = Field(8_000, ge=1, le=65_535, description="a fused stage whose generated "
                                           "method passes this many bytes of bytecode runs unfused "
                                           "(spark.sql.codegen.hugeMethodLimit; Spark's default 65,535): HotSpot "
                                           "never JIT-compiles a method over 8,000 bytes, so such a stage runs "
                                           "interpreted (README 'The chain's speed on one machine')")
    extra: dict[str, str | bool | int | float] = Field(default_factory=dict, description="any other spark.* settings")

    @field_validator("master")
    @classmethod
    def _known_master(cls, value: str) -> str:
        if re.fullmatch(r"local(\[(\d+|\*)(,\d+)?\])?", value) or value == "yarn" \
                or value.startswith(("spark://", "k8s://", "mesos://")):
            return value
        raise ValueError(f"unknown Spark master {value!r}: use local[N], spark://host:port, yarn or k8s://...")


class IngestConfig(Section):
    """Validation of raw events and catalog rows for one run date."""

    events_format: Literal["auto", "jsonl", "csv", "parquet"] = "auto"
    catalog_format: Literal["auto", "jsonl", "csv", "parquet"] = "auto"
    max_bad_share: float = Field(0.05, ge=0.0, le=1.0, description="fail the run above this quarantined share")
    output_files: int = Field(4, ge=1, description="Parquet files per curated partition")


class InteractionsConfig(Section):
    """Per (user, item) weights: event-type weight times exponential decay by age."""

    weights: dict[str, float] = Field(
        default_factory=lambda: {"view": 1.0, "add_to_cart": 3.0, "remove_from_cart": -1.0, "purchase": 5.0}
    )
    half_life_days: float = Field(180.0, gt=0)
    decay_from: Literal["run_date", "user_last_event"] = Field(
        "run_date", description="the age an event's decay counts: from the end of the run date, or from the "
                                "user's own last event (a rare buyer's history keeps its weight)")
    lookback_days: int = Field(365, ge=1)
    output_files: int = Field(4, ge=1)

    @field_validator("weights")
    @classmethod
    def _every_event_type(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(EVENT_TYPES))
        missing = sorted(set(EVENT_TYPES) - set(value))
        if unknown or missing:
            raise ValueError(f"weights must name exactly {list(EVENT_TYPES)}; unknown {unknown}, missing {missing}")
        return value


class GeneratorConfig(Section):
    """Defaults of the synthetic shop generator (`recs generate`)."""

    users: int = Field(1000, ge=1)
    items: int = Field(300, ge=10)
    days: int = Field(10, ge=1)
    start_date: dt.date = dt.date(2026, 11, 1)
    sessions_per_day: float = Field(0.3, gt=0, description="a user's mean sessions per day (lognormal spread): "
                                                          "0.02 makes a shop whose users come back every ~7 weeks")
    events_format: Literal["jsonl", "csv", "parquet"] = "jsonl"
    compress: bool = True


class CooccurrenceConfig(Section):
    """Item-pair sums over groups with sparse products (models/cooccurrence.py: EASE, item_similarity, fbt)."""

    chunk_products: int = Field(20_000_000, ge=1, description="item products (sum of each group's items squared) "
                                "one sparse product makes at most: bounds an executor's memory, ~16 bytes each")


class SimilarityConfig(Section):
    """Item-item neighbours from co-occurrence in users' histories (spark_jobs/item_similarity.py)."""

    top_k: int = Field(100, ge=1, description="neighbours kept per item")
    min_support: int = Field(2, ge=1, description="users who had both items, at least")
    max_history: int = Field(200, ge=2, description="a user's most recent items that form pairs (bounds the n^2)")
    shrink: float = Field(10.0, ge=0, description="cosine shrunk by support / (support + shrink)")
    output_files: int = Field(4, ge=1)


class FbtConfig(Section):
    """Frequently bought together: item pairs in the same order (spark_jobs/fbt_pairs.py)."""

    top_k: int = Field(50, ge=1)
    min_support: int = Field(3, ge=1, description="orders holding both items, at least")
    sparse_min_support: int = Field(2, ge=1, description="...or this, for an item with fewer than min_partners "
                                                         "pairs at min_support (sparse purchase data)")
    min_partners: int = Field(10, ge=0, description="0: min_support for every item")
    min_confidence: float = Field(0.01, ge=0, le=1)
    min_lift: float = Field(1.0, ge=0)
    max_order_items: int = Field(100, ge=2, description="larger orders are skipped (bulk buys carry no signal)")
    output_files: int = Field(4, ge=1)


CartTier = Literal["bought_together", "similar", "category_popular", "content", "popular"]


class CartConfig(Section):
    """Cart completion (models/cart.py): /v1/cart/bought-together and `recs eval`'s cart protocol."""

    order: list[CartTier] = Field(
        default_factory=lambda: ["bought_together", "similar", "category_popular", "content", "popular"],
        min_length=1, description="tiers tried in turn until the list is full (chosen by `recs eval`'s cart "
                                  "protocol on its validation window)")
    category_list: Literal["recent", "all_time", "trending"] = Field(
        "recent", description="the per-category popular list behind the category_popular tier")
    hide_share: float = Field(0.5, gt=0, lt=1, description="`recs eval`: share of each test order's items "
                                                          "hidden (at least one); the rest is the cart asked with")
    k: int = Field(10, ge=1, description="`recs eval`: list length scored (HR@k, MRR@k)")
    validation_days: int = Field(30, ge=1, description="`recs eval`: the window before the cutoff on which the "
                                                      "tier orders below are compared")
    candidates: list[list[CartTier]] = Field(
        default_factory=lambda: [["bought_together", "category_popular", "popular"],
                                 ["bought_together", "category_popular", "similar", "content", "popular"],
                                 ["bought_together", "similar", "category_popular", "content", "popular"],
                                 ["bought_together", "similar", "content", "category_popular", "popular"],
                                 ["similar", "bought_together", "category_popular", "content", "popular"],
                                 ["category_popular", "popular"], ["similar", "content", "popular"], ["popular"]],
        description="`recs eval`: tier orders compared (the first is the reference: FBT -> category -> popular)")


class PopularityConfig(Section):
    """All-time, recent and trending lists, overall and per category (spark_jobs/popularity.py)."""

    recent_days: int = Field(30, ge=1)
    trend_days: int = Field(7, ge=1, description="the window whose rate is compared...")
    trend_baseline_days: int = Field(28, ge=1, description="...with the rate of the window before it")
    trend_prior: float = Field(5.0, gt=0, description="pseudo-count that damps trends of rare items")
    top_n: int = Field(100, ge=1, description="items kept per list")
    category_depth: int = Field(1, ge=1, description="category path levels that name a per-category list")
    segments: list[Literal["country", "device"]] = Field(
        default_factory=lambda: ["country", "device"],
        description="event columns whose values get their own recent list (cold start: scope 'country:GB')")


class ContentConfig(Section):
    """Content features (title tokens, category path, brand, price band) and faiss neighbours."""

    hash_dim: int = Field(4096, ge=64, description="hashed title-token dimensions (TF-IDF weighted)")
    price_bands: list[float] = Field(default_factory=lambda: [2.0, 5.0, 10.0, 25.0, 50.0, 100.0])
    weights: dict[str, float] = Field(default_factory=lambda: {"title": 1.0, "category": 0.7, "brand": 0.4,
                                                               "price": 0.3})
    top_k: int = Field(50, ge=1)
    max_items: int = Field(2_000_000, ge=1, description="single node: the catalog's feature matrix in memory")
    blend: float = Field(0.2, ge=0, le=1, description="share of content in blended similar-item lists")


class AlsSearchConfig(Section):
    """A small seeded grid search on a validation window carved from the end of train."""

    enabled: bool = False
    factors: list[int] = Field(default_factory=lambda: [32, 64, 128])
    regularization: list[float] = Field(default_factory=lambda: [0.01, 0.1])
    alpha: list[float] = Field(default_factory=lambda: [1.0, 5.0])
    validation_days: int = Field(30, ge=1)
    metric_k: int = Field(20, ge=1)


class AlsConfig(Section):
    """ALS factors; engine `implicit` (one node) or `spark` (MLlib, cluster scale)."""

    engine: Literal["implicit", "spark"] = "implicit"
    factors: int = Field(64, ge=1)
    regularization: float = Field(0.1, ge=0)
    alpha: float = Field(1.0, gt=0, description="confidence = 1 + alpha * weight")
    iterations: int = Field(15, ge=1)
    max_interactions: int = Field(50_000_000, ge=1, description="implicit engine: the matrix must fit one node")
    search: AlsSearchConfig = Field(default_factory=AlsSearchConfig)
    output_files: int = Field(4, ge=1)


class EaseConfig(Section):
    """EASE closed form: an items x items dense inverse, so only up to max_items (one node)."""

    regularization: float = Field(50.0, gt=0, description="the lambda added to the Gram matrix's diagonal")
    max_items: int = Field(20_000, ge=1, description="20k items: a 3.2 GB float64 Gram matrix")


class AnnConfig(Section):
    """faiss retrieval over item factors for every user."""

    top_n: int = Field(100, ge=1, description="candidates per user")
    exact_max_items: int = Field(100_000, ge=1, description="a flat exact inner-product scan up to here, "
                                 "large_index above")
    large_index: Literal["pruned", "ivf", "hnsw"] = Field(
        "pruned", description="pruned: exact, the largest-norm items scanned first (models/ann.py NormPruned); "
        "ivf: inverted lists (about half the exact top 100 on ALS factors); hnsw: a graph (fast, poor recall there)")
    prune_share: float = Field(0.05, gt=0, le=1, description="pruned: the share of items, by norm, scanned first")
    ivf_lists: int | None = Field(None, ge=1, description="k-means cells; default 4 * sqrt(items)")
    ivf_probe: int = Field(64, ge=1, description="cells scanned per query")
    hnsw_m: int = Field(32, ge=4)
    ef_construction: int = Field(200, ge=8)
    ef_search: int = Field(256, ge=8)
    exclude_seen: bool = Field(True, description="drop items the user already interacted with")
    output_files: int = Field(4, ge=1)


class EvalConfig(Section):
    """Offline evaluation on a temporal split (`recs eval`)."""

    cutoff: dt.date | None = Field(None, description="train strictly before, test from here")
    end: dt.date | None = Field(None, description="last test date (inclusive)")
    ks: list[int] = Field(default_factory=lambda: [10, 20])
    recent_days: int = Field(30, ge=1, description="window of the recent-popularity baseline")
    relevant_event: Literal["view", "add_to_cart", "purchase"] = "purchase"
    sources: list[str] = Field(default_factory=lambda: [
        "popular_all_time", "popular_recent", "buy_again", "item_knn", "content", "als_implicit", "als_spark",
        "ease"])
    served_url: str = Field("http://127.0.0.1:8000", description="`recs eval-served`: the lookup server to ask")
    served_timeout_seconds: float = Field(10.0, gt=0, description="per request")
    served_concurrency: int = Field(8, ge=1, le=64, description="requests in flight per Spark task")


class RerankConfig(Section):
    """Business rules applied to each ranked list (models/rerank.py)."""

    drop_out_of_stock: bool = True
    drop_purchased: bool = True
    rebuyable_categories: list[str] = Field(default_factory=list, description="category prefixes whose "
                                            "purchased items may come back (consumables, gifts)")
    max_per_category: int = Field(3, ge=1, description="...in any window of `window` consecutive items")
    max_per_brand: int = Field(2, ge=1)
    window: int = Field(10, ge=1)
    promoted_boost: float = Field(0.1, ge=0, description="added to the score, which the ranker scales to [0, 1]")
    new_boost: float = Field(0.05, ge=0, description="for items created within new_days of the run date")
    new_days: int = Field(14, ge=0)
    margin_boosts: dict[str, float] = Field(default_factory=lambda: {"high": 0.05})


# the default candidate sources (every name is checked against spark_jobs/offline/sources.py when a command runs)
RANKING_SOURCES = ("als", "ease", "item_knn", "fbt", "buy_again", "content", "category_popular",
                   "category_trending", "popular_recent")


class RankerSearchConfig(Section):
    """`recs eval --search`: the ranker's settings chosen on a validation window carved from train."""

    enabled: bool = False
    grid: list[dict[str, float | int | str]] = Field(
        default_factory=lambda: [{}, {"max_depth": 6, "min_child_weight": 1.0}, {"label_windows": 1},
                                 {"n_estimators": 600, "learning_rate": 0.025}],
        description="points: overrides of ranking.params, or label_windows; {} is the configured settings")
    validation_days: int = Field(30, ge=1)
    metric_k: int = Field(20, ge=1)


class RankingConfig(Section):
    """Candidates, features and the learning-to-rank model (models/candidates.py, features.py, ranker.py)."""

    sources: list[str] = Field(default_factory=lambda: list(RANKING_SOURCES), min_length=1,
                               description="candidate sources, merged per (user, item) with provenance; names "
                                           "from the registry in spark_jobs/offline/sources.py")
    candidates_per_source: int = Field(100, ge=1)
    recent_items: int = Field(50, ge=1, description="the user's most recent items whose neighbours are candidates")
    user_categories: int = Field(3, ge=1, description="the user's top categories for category_popular/trending")
    label_days: int = Field(30, ge=1, description="training labels: purchases in the label_days before the "
                                                  "cutoff; features as of the start of that window")
    random_negatives: int = Field(10, ge=0, description="random catalog items added per training user")
    label_windows: int = Field(3, ge=1, description="consecutive label windows stacked into the training set")
    min_train_users: int = Field(1000, ge=0, description="a floor: while the windows hold fewer user queries, "
                                                         "earlier windows are added (a shop whose users buy rarely)")
    max_label_windows: int = Field(12, ge=1, description="...up to this many windows in all")
    max_train_users: int = Field(10_000, ge=1, description="users sampled (seeded) per window for the training "
                                                           "set, which is collected to the driver")
    search: RankerSearchConfig = Field(default_factory=RankerSearchConfig)
    broadcast_max_items: int = Field(1_000_000, ge=0, description="item-sized tables (item features, random "
                                     "negatives) are broadcast to every executor up to this many catalog items; "
                                     "above, they are joined with a shuffle")
    broadcast_max_neighbours: int = Field(5_000_000, ge=0, description="item_knn / fbt / content lists are scored "
                                          "on the executors with the neighbour table broadcast up to this many rows "
                                          "(items x top_k, ~20 bytes each); above, with a shuffle join")
    neighbour_slice_products: int = Field(2_000_000, ge=1, description="...expanding at most this many (item, "
                                          "neighbour) products at a time per executor task (~100 bytes each)")
    rerank_pool: int = Field(300, ge=1, description="best-scored candidates per user handed to the re-ranker")
    list_length: int = Field(100, ge=1, description="entries per final list")
    params: dict[str, float | int | str] = Field(default_factory=lambda: {
        "objective": "rank:ndcg", "n_estimators": 300, "learning_rate": 0.05, "max_depth": 4,
        "min_child_weight": 10.0, "subsample": 0.8, "colsample_bytree": 0.8,
        "lambdarank_pair_method": "topk", "lambdarank_num_pair_per_sample": 20, "tree_method": "hist"},
        description="XGBRanker parameters (the seed comes from the top-level seed)")
    fit_threads: int = Field(0, ge=0, description="XGBoost threads for the ranker's fit on the driver; 0: every "
                                             "core (the model is the same whatever the count)")
    output_files: int = Field(4, ge=1)


class GateConfig(Section):
    """The quality gate: the run's final lists on a holdout window before the run date, before publishing."""

    enabled: bool = True
    holdout_days: int = Field(7, ge=1, description="the last days before the run date, held out of training")
    k: int = Field(20, ge=1)
    metrics: list[Literal["ndcg", "recall", "precision", "hit_rate", "map"]] = Field(
        default_factory=lambda: ["ndcg", "recall"])
    baselines: list[str] = Field(default_factory=lambda: ["popular_recent"],
                                 description="single sources the final lists must not fall below")
    baseline_tolerance: float = Field(0.0, ge=0, le=1, description="allowed shortfall against a baseline (share)")
    source_tolerance: float = Field(0.0, ge=0, le=1, description="the ranked lists are published while they reach "
                                    "the best candidate source's value x (1 - this); else that source's lists are")
    min_users: int = Field(50, ge=1, description="holdout users with a relevant item needed to decide anything")
    widen_below_users: int = Field(200, ge=1, description="the holdout doubles while it has fewer users than this "
                                   "(up to max_holdout_days): fewer leave differences of a few hundredths to chance")
    min_positives: int = Field(50, ge=1, description="relevant (user, item) pairs needed to decide anything")
    max_holdout_days: int = Field(28, ge=1, description="the holdout doubles (from holdout_days) up to this "
                                                        "while it holds too few users or positives")
    previous_tolerance: float = Field(0.2, ge=0, le=1, description="allowed drop against the previous run (share)")


class SnapshotConfig(Section):
    """RocksDB snapshots (export/): how they are built and how many are kept."""

    list_length: int = Field(100, ge=1, description="entries per stored list (longer than a page)")
    keep: int = Field(5, ge=2, description="snapshots kept; the live one and the one before are never removed")
    sst_min_keys: int = Field(200_000, ge=0, description="at or above this many keys a column family is "
                                                         "bulk-loaded from sorted SST files, below it put directly")
    sst_partitions: int = Field(8, ge=1, description="key ranges (SST files) per bulk-loaded column family")
    validate_sample: int = Field(1000, ge=1, description="keys per column family decoded by validation")


class S3Config(Section):
    """Where `recs export push|pull` puts snapshots; credentials come from the AWS environment only."""

    bucket: str | None = None
    prefix: str = "recs/snapshots"
    local_dir: str | None = Field("var/s3", description="without a bucket, the nightly export copies snapshots "
                                  "here in the same layout (<local_dir>/<prefix>/<name>/); null: no export")
    endpoint_url: str | None = Field(None, description="a non-AWS endpoint (MinIO, moto); default AWS")
    region: str | None = None
    multipart_threshold_mb: int = Field(64, ge=5)
    multipart_chunk_mb: int = Field(16, ge=5)


class SessionConfig(Section):
    """Sessions of the lookup server's overlay: signed tokens and their events' store (lookup_server/sessions.py)."""

    backend: Literal["sqlite", "redis", "memory"] = Field(
        "sqlite", description="sqlite: a file shared by the host's workers; redis: several hosts; memory: one worker")
    sqlite_path: str = "var/sessions.sqlite3"
    redis_url: str = "redis://127.0.0.1:6379/0"
    ttl_seconds: int = Field(1800, ge=1)
    max_events: int = Field(50, ge=1, description="events kept per session (the newest)")
    max_sessions: int = Field(20_000, ge=1, description="sessions kept by the sqlite and memory stores (oldest go)")
    timeout_ms: int = Field(50, ge=1, description="a store call that takes longer fails: the page goes on without it")
    retry_seconds: float = Field(1.0, ge=0, description="after a store failure, answer without it for this long")
    secret: SecretStr | None = Field(None, description="HMAC key of session tokens: set RECS_SERVE__SESSION__SECRET "
                                                       "(never in a file); unset: random per `recs serve` start")


class VariantConfig(Section):
    """One arm of an experiment: its share of users and the home list it serves."""

    share: float = Field(gt=0, le=1)
    home_list: str = Field("user_recs", description='"user_recs" (the ranked lists) or a popular list key, '
                                                    'e.g. "trending:all"')


class ExperimentConfig(Section):
    """An A/B test on the home page; users are assigned by sha256(experiment:user), stable everywhere."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    variants: dict[str, VariantConfig]

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> ExperimentConfig:
        total = sum(v.share for v in self.variants.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"experiment {self.name}: variant shares sum to {total}, not 1")
        return self


class ExperimentReportConfig(Section):
    """The nightly A/B report (spark_jobs/experiment_report.py) and the log shipping before it."""

    enabled: bool = Field(True, description="ship the server's logs and report on `serve.experiment` nightly")
    control: str | None = Field(None, description="the control variant; default: the experiment's first variant")
    days: int = Field(28, ge=1, description="impressions of the last N days up to the run date are analysed")
    attribution_hours: float = Field(24, gt=0, description="a purchase of a shown item counts for the impression "
                                     "when it follows it within this many hours (by request_id, else user + item)")
    alpha: float = Field(0.05, gt=0, lt=1)
    power: float = Field(0.8, gt=0, lt=1, description="for the minimum detectable effect and the users needed")
    srm_alpha: float = Field(0.001, gt=0, lt=1, description="a sample-ratio-mismatch p-value below this marks the "
                                                            "experiment untrustworthy")
    planned_lift: float = Field(0.1, gt=0, description="relative conversion lift the users-needed figure is for")
    logs_dir: str | None = Field(None, description="the lookup server's logs to ship; default serve.impressions_dir "
                                 "(a folder on this host; other hosts ship their own with `recs experiments ship`)")


class AbDemoConfig(Section):
    """`recs ab-demo`: a simulated experiment through the real lookup server (data_samples/ab_simulation.py)."""

    start_date: dt.date = Field(dt.date(2026, 11, 15), description="first simulated day (the server's clock is set "
                                "to it with faketime); after the synthetic sample's last day")
    days: int = Field(14, ge=1)
    visitors_per_day: int = Field(300, ge=1, description="sample users drawn each day (seeded); they come back")
    k: int = Field(10, ge=1, description="items per home page")
    click_rate: float = Field(0.01, ge=0, le=1, description="a shown item's click probability ...")
    taste_click_rate: float = Field(0.025, ge=0, le=1, description="... when its category is one the visitor "
                                    "browsed in the sample")
    buy_rate: float = Field(0.15, ge=0, le=1, description="a clicked item is bought with this probability")
    experiment: ExperimentConfig = Field(default_factory=lambda: ExperimentConfig(
        name="home-ranked-vs-trending", variants={"ranked": VariantConfig(share=0.5, home_list="user_recs"),
                                                  "trending": VariantConfig(share=0.5, home_list="trending:all")}))


class BenchChainConfig(Section):
    """`make bench-chain` (spark_jobs/bench_chain.py): the whole nightly chain on generated shops of growing size."""

    sizes: list[int] = Field([1_000_000, 4_000_000, 16_000_000], description="events per generated shop")
    days: int = Field(30, ge=2, description="days of history; the chain runs for the last one")
    events_per_user_day: float = Field(1.2, gt=0, description="what the generator makes per user and day at its "
                                       "default sessions_per_day: users = events / (days x this)")
    items_per_user: float = Field(0.15, gt=0, description="items = users x this (the catalog grows with the shop)")
    folder: str = Field("var/bench-chain", description="the generated shops, their lakes and snapshots")
    results: str = Field("data_samples/bench_chain", description="results.json/.csv and chain.png (committed: "
                         "the README's figures)")
    sample_seconds: float = Field(0.5, gt=0, description="how often process memory is sampled")
    cluster_workers: int = Field(2, ge=1, description="workers of the standalone cluster started for the run "
                                 "(when the configured master is spark://127.0.0.1:7077 and none answers)")
    worker_memory: str = "3g"


class AirflowConfig(Section):
    """The nightly DAG (dags/recs_nightly.py) and `make airflow`."""

    schedule: str | None = Field("0 2 * * *", description="cron, UTC: when the nightly run starts; null: "
                                 "manual runs only")
    start_date: dt.date = Field(dt.date(2026, 11, 1), description="first logical date (UTC); catchup is off")
    spark_conn_id: str = Field("spark_default", description="the Airflow connection naming the Spark master")
    retries: int = Field(2, ge=0)
    retry_delay_minutes: float = Field(5, gt=0, description="first retry delay; doubles each retry")
    max_retry_delay_minutes: float = Field(60, gt=0)
    task_timeout_minutes: float = Field(180, gt=0, description="a task running longer is failed")
    owner: str = "recs"


class ServeConfig(Section):
    """The lookup server (lookup_server/, `recs serve`)."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(2, ge=1)
    threads: int = Field(4, ge=1, description="threads per worker (gthread): a slow client holds one thread, "
                                              "not a whole worker")
    timeout_seconds: int = Field(30, ge=1, description="gunicorn's worker timeout")
    poll_seconds: float = Field(5.0, gt=0, description="how often a worker looks for a new CURRENT")
    validate_sample: int = Field(100, ge=1, description="keys per column family decoded before a swap")
    default_k: int = Field(20, ge=1)
    max_k: int = Field(100, ge=1)
    max_list_items: int = Field(50, ge=1, description="ids at most in items=, viewed=, cart=")
    max_id_length: int = Field(64, ge=1)
    overlay_recent_views: int = Field(3, ge=0, description="last viewed items whose neighbours are blended in")
    overlay_boost: float = Field(0.5, ge=0, description="added to an item's score per recent view it is near")
    session: SessionConfig = Field(default_factory=SessionConfig)
    experiment: ExperimentConfig | None = Field(None, description="the running home-page A/B test, if any")
    impressions_dir: str = Field("var/impressions", description="JSON-lines impression and feedback logs, one file "
                                 "per worker and kind; closed files go to closed/, shipped ones to shipped/")
    impressions_max_mb: int = Field(64, ge=1, description="a log is closed at this size (and when the UTC day "
                                                          "changes)")
    impressions_keep_days: float = Field(7.0, gt=0, description="shipped logs older than this are removed when "
                                                                "a worker starts (unshipped ones never are)")


class Config(Section):
    """The whole effective configuration."""

    env: str = "local"
    seed: int = 42
    paths: PathsConfig
    spark: SparkConfig = Field(default_factory=SparkConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    interactions: InteractionsConfig = Field(default_factory=InteractionsConfig)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    cooccurrence: CooccurrenceConfig = Field(default_factory=CooccurrenceConfig)
    similarity: SimilarityConfig = Field(default_factory=SimilarityConfig)
    fbt: FbtConfig = Field(default_factory=FbtConfig)
    cart: CartConfig = Field(default_factory=CartConfig)
    popularity: PopularityConfig = Field(default_factory=PopularityConfig)
    content: ContentConfig = Field(default_factory=ContentConfig)
    als: AlsConfig = Field(default_factory=AlsConfig)
    ease: EaseConfig = Field(default_factory=EaseConfig)
    ann: AnnConfig = Field(default_factory=AnnConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    ranking: RankingConfig = Field(default_factory=RankingConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    rerank: RerankConfig = Field(default_factory=RerankConfig)
    snapshot: SnapshotConfig = Field(default_factory=SnapshotConfig)
    s3: S3Config = Field(default_factory=S3Config)
    airflow: AirflowConfig = Field(default_factory=AirflowConfig)
    experiment_report: ExperimentReportConfig = Field(default_factory=ExperimentReportConfig)
    ab_demo: AbDemoConfig = Field(default_factory=AbDemoConfig)
    bench_chain: BenchChainConfig = Field(default_factory=BenchChainConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)

    @model_validator(mode="after")
    def _lake_differs_from_raw(self) -> Config:
        if self.paths.raw.rstrip("/") == self.paths.lake.rstrip("/"):
            raise ValueError("paths.raw and paths.lake must differ: the lake is overwritten per run date")
        return self
