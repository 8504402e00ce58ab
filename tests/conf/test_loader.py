"""The configuration loader: layering, RECS_* overrides, and errors that name the key."""

from __future__ import annotations

import pytest

from conf import ConfigError, config_digest, load_config
from conf.loader import PROJECT_ROOT, available_envs


def test_local_defaults_resolve_relative_paths_against_the_project_root():
    config = load_config(env="local", environ={})
    assert config.env == "local"
    assert config.spark.master == "local[2]"
    assert config.paths.raw == str(PROJECT_ROOT / "data_samples" / "synthetic")
    assert config.interactions.weights["purchase"] > config.interactions.weights["view"]


def test_every_committed_environment_loads():
    assert {"local", "retail", "cluster"} <= set(available_envs())
    for env in available_envs():
        assert load_config(env=env, environ={}).env == env


def test_environment_file_layers_over_base():
    retail = load_config(env="retail", environ={})
    assert retail.paths.raw.endswith("data_samples/online_retail")
    assert retail.interactions.half_life_days == 60
    assert retail.ingest.max_bad_share == load_config(env="local", environ={}).ingest.max_bad_share


def test_cluster_environment_keeps_uris_as_given():
    config = load_config(env="cluster", environ={})
    assert config.paths.raw == "s3a://my-shop-raw/recs"
    assert config.spark.master == "yarn"


def test_recs_variables_override_nested_keys_with_typed_values():
    config = load_config(env="local", environ={
        "RECS_SPARK__MASTER": "spark://10.0.0.5:7077",
        "RECS_INGEST__MAX_BAD_SHARE": "0.2",
        "RECS_SEED": "7",
        "RECS_ENV": "ignored-when-env-is-given",
    })
    assert config.spark.master == "spark://10.0.0.5:7077"
    assert config.ingest.max_bad_share == pytest.approx(0.2)
    assert config.seed == 7


def test_recs_env_variable_selects_the_environment():
    assert load_config(environ={"RECS_ENV": "retail"}).env == "retail"


def test_unknown_key_from_a_variable_names_the_key_and_the_variable():
    with pytest.raises(ConfigError) as err:
        load_config(env="local", environ={"RECS_SPARK__MASTR": "yarn"})
    assert "spark.mastr" in str(err.value)
    assert "$RECS_SPARK__MASTR" in str(err.value)


def test_bad_value_names_the_key_and_the_value():
    with pytest.raises(ConfigError) as err:
        load_config(env="local", environ={"RECS_INGEST__MAX_BAD_SHARE": "1.5"})
    assert "ingest.max_bad_share" in str(err.value) and "1.5" in str(err.value)


def test_unknown_spark_master_is_rejected():
    with pytest.raises(ConfigError, match="spark.master"):
        load_config(env="local", overrides={"spark.master": "localhost"}, environ={})


def test_interaction_weights_must_name_every_event_type():
    with pytest.raises(ConfigError, match="remove_from_cart"):
        load_config(env="local", environ={}, overrides={"interactions.weights": {"view": 1, "add_to_cart": 2,
                                                                                 "purchase": 3}})


def test_extra_file_layers_on_top_and_its_typos_are_named(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text("paths:\n  raw: /data/raw\n  lake: /data/lake\n")
    assert load_config(env="local", config_file=extra, environ={}).paths.lake == "/data/lake"
    extra.write_text("ingest:\n  max_bad_shar: 0.1\n")
    with pytest.raises(ConfigError, match="ingest.max_bad_shar"):
        load_config(env="local", config_file=extra, environ={})


def test_malformed_yaml_and_unknown_environment_fail_clearly(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("paths: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(env="local", config_file=broken, environ={})
    with pytest.raises(ConfigError, match="unknown environment 'nope'"):
        load_config(env="nope", environ={})


def test_digest_follows_results_not_locations():
    base = load_config(env="local", environ={})
    moved = load_config(env="local", environ={"RECS_PATHS__LAKE": "/elsewhere"})
    rechunked = load_config(env="local", environ={"RECS_COOCCURRENCE__CHUNK_PRODUCTS": "1000"})
    tuned = load_config(env="local", environ={"RECS_INTERACTIONS__HALF_LIFE_DAYS": "7"})
    assert config_digest(base) == config_digest(moved) == config_digest(rechunked)
    assert config_digest(base) != config_digest(tuned)
    assert len(config_digest(base)) == 12


def test_the_committed_samples_environments_ship_server_logs_under_var_never_into_the_sample():
    for env in ("local", "retail"):
        config = load_config(env=env, environ={})
        assert "/var/raw/" in config.paths.logs_raw and "data_samples" not in config.paths.logs_raw
    elsewhere = load_config(env="local", environ={}, overrides={"paths.raw": "/data/raw", "paths.logs_raw": None})
    assert elsewhere.paths.logs_raw == "/data/raw"                       # default: the raw zone itself
