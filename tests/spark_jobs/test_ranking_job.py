"""The nightly ranking job on the committed synthetic sample: lists, the saved ranker, the quality gate."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from conf import load_config
from conf.loader import config_digest
from export.format import SnapshotError
from models import ranker
from spark_jobs import ingest, lake, quality_gate
from spark_jobs import ranking as job
from spark_jobs import snapshot as snapshot_job
from spark_jobs.offline import features, gate
from spark_jobs.offline.sources import REASONS
from tests.helpers import LIGHT_RANKING

pytestmark = [pytest.mark.spark, pytest.mark.slow]
RUN_DATE = dt.date(2026, 11, 14)


@pytest.fixture(scope="module")
def lake_config(spark, tmp_path_factory):
    """The sample's events and catalog, validated, as curated partitions in a fresh lake."""
    config = load_config(env="local", environ={}, overrides={
        **LIGHT_RANKING, "paths.lake": str(tmp_path_factory.mktemp("lake")), "ranking.list_length": 30})
    events, catalog, _ = ingest.read_validated(spark, config, RUN_DATE)
    events.withColumn("dt", F.to_date("event_time")).write.partitionBy("dt").parquet(
        lake.curated(config.paths.lake, "events"))
    catalog.write.parquet(lake.curated(config.paths.lake, "catalog", RUN_DATE))
    return config


@pytest.fixture(scope="module")
def passed(spark, lake_config):
    return job.main(spark, lake_config, RUN_DATE)


def test_a_run_writes_ranked_lists_its_ranker_and_a_passing_gate(spark, lake_config, passed):
    verdict = quality_gate.main(spark, lake_config, RUN_DATE)
    gate_figures = passed["gate"]
    assert verdict["passed"] and verdict["published"] == passed["published"] == "ranked"
    assert verdict["measured"] == gate_figures["measured"]["ranked"] == gate_figures["published_figures"]
    assert gate_figures["passed"] and not gate_figures["failures"] and not gate_figures["inconclusive"]
    assert gate_figures["signal"]["users"] >= lake_config.gate.min_users
    # the ranked lists were measured against every candidate source's own lists, and reach each of them
    assert set(gate_figures["sources"]) == set(lake_config.ranking.sources)
    ours = gate_figures["measured"]["ranked"]
    baseline = ("popular_recent", gate_figures["measured"]["popular_recent"])
    for name, theirs in [*gate_figures["sources"].items(), baseline]:
        assert ours["ndcg"] >= theirs["ndcg"], name

    ranked = spark.read.parquet(passed["output"]["ranked"])
    users = spark.read.parquet(lake.curated(lake_config.paths.lake, "events")).select("user_id").distinct()
    assert ranked.select("user_id").distinct().count() == users.count() == passed["users"]
    per_user = ranked.groupBy("user_id").agg(F.max("rank").alias("last"), F.count(F.lit(1)).alias("n"))
    assert per_user.filter((F.col("last") != F.col("n")) | (F.col("n") > 30)).count() == 0
    assert ranked.filter(F.col("reason").isNull() | (F.col("reason") == "")).count() == 0

    saved = ranker.from_json(lake.read_json(spark, passed["output"]["ranker"]), config_digest(lake_config))
    assert saved.features == features.names(lake_config) and set(saved.importances) == set(saved.features)
    assert saved.training["positives"] > 0 and sum(saved.importances.values()) == pytest.approx(1.0, abs=1e-3)
    # the published ranker is the one the gate measured: trained on the windows before the holdout, not refitted
    assert saved.training == {**gate_figures["training"]}
    holdout_start = dt.date.fromisoformat(gate_figures["holdout"][0])
    assert max(dt.date.fromisoformat(last) for _, last in saved.training["windows"]) < holdout_start


def test_a_ranker_that_loses_to_a_source_publishes_that_source_labelled(spark, lake_config, passed, monkeypatch):
    """A broken ranker (shuffled labels) loses to the sources it was fed: the best source's lists are published."""
    real_fit = ranker.fit

    def fit_on_shuffled_labels(train, *args, **kwargs):       # a broken model: labels unrelated to the rows
        broken = train.assign(label=train["label"].sample(frac=1.0, random_state=7).to_numpy())
        return real_fit(broken, *args, **kwargs)

    monkeypatch.setattr(ranker, "fit", fit_on_shuffled_labels)
    report = job.main(spark, lake_config, RUN_DATE)
    verdict = report["gate"]
    best = max(verdict["sources"], key=lambda name: verdict["sources"][name]["ndcg"])
    assert report["published"] == verdict["published"] == best and verdict["passed"]
    assert verdict["sources"][best]["ndcg"] > verdict["measured"]["ranked"]["ndcg"]
    assert verdict["why"].startswith(f"{best}'s ndcg@20")
    assert quality_gate.main(spark, lake_config, RUN_DATE)["published"] == best      # the step's log names it
    lists = spark.read.parquet(passed["output"]["ranked"])
    reasons = {r.reason.split(":")[0] for r in lists.select("reason").distinct().collect()}
    assert reasons == {REASONS[best].split(":")[0]}                                  # labelled as that source
    assert not lake.exists(spark, passed["output"]["ranker"])                        # no ranker was published
    reached = lists.select("user_id").distinct().count()           # users the source cannot reach: the fallback
    assert 0.99 * passed["users"] <= reached <= passed["users"]


def test_lists_that_drop_from_the_previous_run_fail_the_gate_and_nothing_is_published(spark, lake_config, passed):
    earlier = lake.report(lake_config.paths.lake, "ranking", RUN_DATE - dt.timedelta(days=1))
    lake.write_json(spark, earlier, {"gate": {"passed": True, "measured": {"ranked": {"ndcg": 0.99, "recall": 0.99}},
                                              "published_figures": {"ndcg": 0.99, "recall": 0.99}}})
    try:
        report = job.main(spark, lake_config, RUN_DATE)                  # records the failure, writes no lists
        assert report["gate"]["passed"] is False and report["gate"]["failures"]
        assert not lake.exists(spark, passed["output"]["ranked"])        # this date's earlier lists are gone too
        assert lake.read_json(spark, lake.report(lake_config.paths.lake, "ranking", RUN_DATE)) == report
        with pytest.raises(gate.GateError, match=r"ndcg@20 of .* dropped more than 20% from the previous run's "
                                                 r"0.9900") as failure:
            quality_gate.main(spark, lake_config, RUN_DATE)              # the step that stops the run
        assert "nothing will be published" in str(failure.value)
        with pytest.raises(SnapshotError, match="failed its quality gate"):
            snapshot_job.read(spark, lake_config, RUN_DATE)
    finally:
        lake.delete(spark, earlier)


def test_a_holdout_with_too_few_users_to_decide_well_widens_until_the_history_ends(spark, lake_config):
    from spark_jobs.interactions import read_events

    events = read_events(spark, lake_config, RUN_DATE)
    catalog = spark.read.parquet(lake.curated(lake_config.paths.lake, "catalog", RUN_DATE))

    def widened(**settings) -> tuple[int, dict]:
        config = lake_config.model_copy(deep=True)
        config.gate = config.gate.model_copy(update=settings)
        _, found, days = job.holdout(events, catalog, config, RUN_DATE, True)
        return days, found

    days, found = widened(widen_below_users=1)                           # enough users: the configured holdout
    assert days == lake_config.gate.holdout_days == 3 and found["users"] >= lake_config.gate.min_users
    wide, more = widened(widen_below_users=found["users"] + 1)           # one user short: doubled, once
    assert wide == 6 and more["users"] > found["users"]
    widest, _ = widened(widen_below_users=10**6)                         # 3 -> 6 -> 12; 24 days pass 11-01
    assert widest == 12


def test_the_final_view_reads_the_nights_neighbour_tables_instead_of_fitting_them(spark, lake_config):
    from spark_jobs import fbt_pairs, item_similarity
    from spark_jobs.interactions import read_events
    from spark_jobs.offline import candidates, sources
    from spark_jobs.offline.split import as_of

    config = lake_config.model_copy(deep=True)
    config.ranking = config.ranking.model_copy(update={"sources": [*lake_config.ranking.sources, "fbt"]})
    item_similarity.main(spark, config, RUN_DATE)
    fbt_pairs.main(spark, config, RUN_DATE)
    end = dt.datetime.combine(RUN_DATE + dt.timedelta(days=1), dt.time())
    events = read_events(spark, config, RUN_DATE).filter(F.col("event_time") < F.lit(end))
    catalog = spark.read.parquet(lake.curated(config.paths.lake, "catalog", RUN_DATE))
    context = sources.Context(spark, as_of(events, catalog, config, RUN_DATE + dt.timedelta(days=1)), config, True)
    known = candidates.nightly_models(spark, config, RUN_DATE)
    assert set(known) == {"item_knn", "fbt"}
    for name, table in known.items():           # what the source's fit on the final view would give
        fitted = sources.get(name).fit(context).select("item_id", "neighbour_id", "score")
        theirs = {(r.item_id, r.neighbour_id): r.score for r in fitted.collect()}
        ours = {(r.item_id, r.neighbour_id): r.score for r in table.collect()}
        assert len(ours) > 100 and ours == pytest.approx(theirs, rel=1e-12), name
    assert candidates.nightly_models(spark, lake_config, RUN_DATE) == {}     # written under another configuration
