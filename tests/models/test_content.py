"""Content features and neighbours: a new item with no interactions gets similar items."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from models import content
from spark_jobs import content as content_job
from spark_jobs import lake
from spark_jobs.columns import CATALOG_SCHEMA

CATALOG = pd.DataFrame({
    "item_id": ["m1", "m2", "m3", "c1", "c2", "new-mug"],
    "title": ["RED SPOTTY MUG", "BLUE SPOTTY MUG", "GREEN MUG", "TOY RACING CAR", "RED TOY CAR", "PINK SPOTTY MUG"],
    "category": ["Home > Kitchen > Mugs"] * 3 + ["Toys > Cars"] * 2 + ["Home > Kitchen > Mugs"],
    "brand": ["acme", "acme", None, "zoom", "zoom", "acme"],
    "price": [4.0, 4.5, 3.0, 20.0, 22.0, 4.2],
})


def test_features_are_unit_vectors_and_stable(make_config):
    settings = make_config(content__hash_dim=256).content
    vectors = content.features(CATALOG, settings)
    assert vectors.shape == (6, 256) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors, content.features(CATALOG, settings))
    assert content.bucket("t:MUG", 256) == 47237734 % 256        # crc32: the same in every process


def test_a_cold_item_gets_neighbours_from_its_own_kind(make_config):
    config = make_config(content__top_k=3)
    found = content.neighbours(CATALOG, config.content, config.ann)
    mine = found[found.item_id == "new-mug"].sort_values("rank")
    assert list(mine.neighbour_id[:2]) in (["m1", "m2"], ["m2", "m1"])
    assert set(mine.neighbour_id) <= {"m1", "m2", "m3"}
    assert "new-mug" not in set(mine.neighbour_id) and list(mine["rank"]) == [1, 2, 3]
    cars = found[found.item_id == "c1"].sort_values("rank")
    assert cars.neighbour_id.iloc[0] == "c2"


def test_catalog_over_the_limit_says_so(make_config):
    with pytest.raises(content.ContentError, match="content.max_items"):
        content.features(CATALOG, make_config(content__max_items=3).content)


@pytest.mark.spark
def test_blend_keeps_co_occurrence_and_falls_back_to_content_for_cold_items(spark):
    cf = spark.createDataFrame([("a", "b", 0.8, 1), ("a", "c", 0.4, 2)],
                               "item_id string, neighbour_id string, score double, rank int")
    ct = spark.createDataFrame([("a", "c", 0.9, 1), ("cold", "a", 0.7, 1), ("cold", "b", 0.5, 2)],
                               "item_id string, neighbour_id string, score float, rank int")
    got = {(r.item_id, r.neighbour_id): r for r in content_job.blend(cf, ct, 0.2, 10).collect()}
    assert got[("a", "b")].score == pytest.approx(0.8 * 1.0) and got[("a", "b")].source == "co_occurrence"
    assert got[("a", "c")].score == pytest.approx(0.8 * 0.5 + 0.2 * 0.9) and got[("a", "c")].source == "both"
    assert got[("cold", "a")].score == pytest.approx(0.7) and got[("cold", "a")].source == "content"
    assert got[("cold", "a")].rank == 1 and got[("cold", "b")].rank == 2


@pytest.mark.spark
def test_the_job_needs_item_similarity_of_the_date_and_blends_it(spark, make_config):
    config = make_config(content__top_k=3, similarity__top_k=5)
    run = dt.date(2026, 11, 14)
    catalog = CATALOG.assign(in_stock=True, created_at=pd.NaT, promoted=False, margin_tier=None)
    spark.createDataFrame(catalog, CATALOG_SCHEMA).write.parquet(lake.curated(config.paths.lake, "catalog", run))
    with pytest.raises(content.ContentError, match="run the item_similarity step for that date first"):
        content_job.main(spark, config, run)        # a partial list would otherwise reach the product pages

    pairs = spark.createDataFrame([("m1", "c1", 0.9, 3, 1)],
                                  "item_id string, neighbour_id string, score double, support long, rank int")
    pairs.write.parquet(lake.curated(config.paths.lake, "item_similarity", run))
    report = content_job.main(spark, config, run)
    similar = spark.read.parquet(report["output"]["similar_items"]).toPandas()
    assert similar.query("item_id == 'm1' and neighbour_id == 'c1'")["source"].tolist() == ["co_occurrence"]
    assert set(similar.query("item_id == 'new-mug'")["source"]) == {"content"}
