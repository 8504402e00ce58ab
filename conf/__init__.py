"""Configuration: YAML files in this folder loaded into typed, validated objects."""

from conf.loader import ConfigError, config_digest, load_config
from conf.schema import Config

__all__ = ["Config", "ConfigError", "config_digest", "load_config"]
