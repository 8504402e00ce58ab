"""The one registry of sources: names the configuration may use, reason codes, and a new source end to end."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

import recs
from conf import ConfigError
from spark_jobs.offline import candidates, evaluation, features, sources
from spark_jobs.offline.split import temporal_split
from tests.helpers import ev, events_frame

CUTOFF = dt.date(2026, 11, 10)


def at(day: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, 12)


def test_every_source_name_in_the_configuration_is_checked_against_the_registry(make_config):
    assert sources.check_config(make_config())          # the defaults name registered sources only
    for key, value in (("ranking__sources", ["als", "nope"]), ("gate__baselines", ["popular_recnt"]),
                       ("eval__sources", ["ranked", "ease", "knn"])):
        with pytest.raises(ConfigError, match=rf"{key.replace('__', '.')}: unknown source\(s\) \['(nope|popular_recnt"
                                              r"|knn)'\]; known: als, "):
            sources.check_config(make_config(**{key: value}))
    assert sources.check_config(make_config(eval__sources=["ranked", "fbt", "category_trending"]))


def test_the_command_line_refuses_an_unknown_source_before_running(capsys):
    assert recs.main(["--set", "ranking.sources=[als,alss]", "config"]) == 2
    assert "ranking.sources: unknown source(s) ['alss']" in capsys.readouterr().err


def test_reason_codes_come_from_the_registry():
    assert sources.REASONS == {source.name: source.reason for source in sources.SOURCES}
    assert sources.REASONS["item_knn"] == "similar_to:{}" and sources.REASONS["fbt"] == "bought_with:{}"
    assert len(sources.BY_NAME) == len(sources.SOURCES)


@pytest.fixture
def split(spark, make_config):
    rows = [ev("1", "u1", "a", when=at(1)), ev("2", "u1", "b", when=at(2)), ev("3", "u2", "a", when=at(3)),
            ev("4", "u2", "c", when=at(4)),
            ev("5", "u1", "c", when=at(11)), ev("6", "u2", "b", when=at(12))]
    catalog = spark.createDataFrame([(x, f"T {x}", "Cat > " + x, "B", 2.0, True, at(1), False, None) for x in "abc"],
                                    "item_id string, title string, category string, brand string, price double, "
                                    "in_stock boolean, created_at timestamp, promoted boolean, margin_tier string")
    return temporal_split(events_frame(spark, rows), catalog, make_config(), CUTOFF, dt.date(2026, 11, 15))


@pytest.mark.spark
def test_a_new_source_added_to_the_registry_reaches_candidates_features_and_eval(spark, split, make_config,
                                                                                monkeypatch):
    """One Source object is all a new source needs: the candidates, the features and the evaluator use it."""
    def fit(context):
        return context.view.catalog.select("item_id").filter(F.col("item_id") == "c")

    def recommend(context, model, users, n, exclude_seen):
        return users.crossJoin(model).select("user_id", "item_id", F.lit(1.0).alias("score"),
                                             F.lit(1).alias("rank"), F.lit(None).cast("string").alias("anchor"))

    toy = sources.Source("always_c", "editors_pick", fit, recommend)
    monkeypatch.setitem(sources.BY_NAME, toy.name, toy)
    config = make_config(ranking__sources=["popular_recent", "always_c"], eval__ks=[1])
    sources.check_config(config.model_copy(update={"eval": config.eval.model_copy(update={"sources": ["always_c"]})}))

    fitted = candidates.fit(spark, split, config)
    merged = {(r.user_id, r.item_id): r for r in candidates.merged(fitted, split.users, False).collect()}
    assert merged[("u1", "c")].always_c_rank == 1 and merged[("u1", "c")].source == "always_c"
    assert {"always_c_score", "always_c_rank", "always_c_norm"} <= set(features.names(config))

    results = evaluation.evaluate(spark, split, config, ["always_c"], progress=lambda _: None)
    assert results["results"]["repeats"]["always_c"][1]["hit_rate"] == pytest.approx(0.5)   # u1 bought c, u2 not
