"""Load conf/base.yaml, then conf/<env>.yaml, then an optional file, then RECS_* variables."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from conf.schema import Config

CONF_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = CONF_DIR.parent
ENV_PREFIX = "RECS_"
# Variables with the prefix that select files rather than set keys.
RESERVED_VARS = {"RECS_ENV", "RECS_CONFIG", "RECS_HOME"}


class ConfigError(ValueError):
    """The configuration is wrong; the message names the key or variable and the source."""


def available_envs() -> list[str]:
    """Names of the per-environment files in conf/ (base.yaml excluded)."""
    return sorted(p.stem for p in CONF_DIR.glob("*.yaml") if p.stem != "base")


def load_config(
    env: str | None = None,
    config_file: str | os.PathLike | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the effective configuration.

    Args:
        env: environment name (conf/<env>.yaml); default $RECS_ENV, else "local".
        config_file: an extra YAML file layered on top; default $RECS_CONFIG.
        environ: where RECS_* overrides are read; default os.environ.
        overrides: dotted keys set last, e.g. {"spark.master": "yarn"}.

    Returns:
        The validated Config, relative paths resolved against the project root.

    Raises:
        ConfigError: a file is missing or malformed, or a key or value is wrong.
    """
    environ = os.environ if environ is None else environ
    env = env or environ.get("RECS_ENV") or "local"
    env_file = CONF_DIR / f"{env}.yaml"
    if not env_file.is_file():
        raise ConfigError(f"unknown environment {env!r}: no {env_file}; choose one of {available_envs()}")

    data = _read_yaml(CONF_DIR / "base.yaml")
    _merge(data, _read_yaml(env_file))
    extra = config_file or environ.get("RECS_CONFIG")
    if extra:
        _merge(data, _read_yaml(Path(extra)))
    origins = {}
    for key, (variable, value) in _env_overrides(environ).items():
        origins[key] = f"${variable}"
        _set_dotted(data, key, value, source=origins[key])
    for key, value in (overrides or {}).items():
        origins[key] = f"override {key}"
        _set_dotted(data, key, value, source=origins[key])
    data["env"] = env

    try:
        config = Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_describe(err, env_file, extra, origins)) from None
    root = Path(environ.get("RECS_HOME") or PROJECT_ROOT)
    for name in ("raw", "lake", "snapshots"):
        setattr(config.paths, name, resolve_path(getattr(config.paths, name), root))
    config.paths.logs_raw = resolve_path(config.paths.logs_raw, root) if config.paths.logs_raw else config.paths.raw
    config.serve.impressions_dir = resolve_path(config.serve.impressions_dir, root)
    if config.spark.log_dir:
        config.spark.log_dir = resolve_path(config.spark.log_dir, root)
    if config.spark.event_log_dir:
        config.spark.event_log_dir = resolve_path(config.spark.event_log_dir, root)
    config.serve.session.sqlite_path = resolve_path(config.serve.session.sqlite_path, root)
    config.experiment_report.logs_dir = resolve_path(config.experiment_report.logs_dir or config.serve.impressions_dir,
                                                     root)
    if config.s3.local_dir:
        config.s3.local_dir = resolve_path(config.s3.local_dir, root)
    return config


def resolve_path(path: str, root: Path) -> str:
    """Absolute local path for a relative one; URIs (s3a://, hdfs://, file://) unchanged."""
    if "://" in path or Path(path).is_absolute():
        return path
    return str((root / path).resolve())


# Sections that say where and how to run, not what to compute: left out of the digest (cooccurrence.chunk_products
# cuts the same sums into products of another size).
NOT_IN_DIGEST = {"env", "paths", "spark", "cooccurrence", "serve", "s3", "airflow", "experiment_report", "ab_demo"}


def config_digest(config: Config) -> str:
    """Short sha256 of the settings that shape results; the same on every host and checkout."""
    canonical = json.dumps(config.model_dump(mode="json", exclude=NOT_IN_DIGEST), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"configuration file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections, not {type(data).__name__}")
    return data


def _merge(base: dict, update: dict) -> None:
    """Deep-merge `update` into `base` in place (mappings merge, everything else replaces)."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def _env_overrides(environ: Mapping[str, str]) -> dict[str, tuple[str, Any]]:
    """RECS_SPARK__MASTER=yarn -> {"spark.master": ("RECS_SPARK__MASTER", "yarn")}; values parsed as YAML."""
    found = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in RESERVED_VARS:
            continue
        key = name[len(ENV_PREFIX):].lower().replace("__", ".")
        try:
            found[key] = (name, yaml.safe_load(raw) if raw != "" else "")
        except yaml.YAMLError:
            found[key] = (name, raw)
    return found


def _set_dotted(data: dict, dotted: str, value: Any, source: str) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: {'.'.join(parts[:-1])} is not a section, cannot set {dotted}")
        node = child
    node[parts[-1]] = value


def _describe(err: ValidationError, env_file: Path, extra: str | os.PathLike | None, origins: dict) -> str:
    sources = f"conf/base.yaml, {env_file.name}" + (f", {extra}" if extra else "") + " and RECS_* variables"
    lines = []
    for problem in err.errors():
        key = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        origin = next((f" (from {o})" for k, o in origins.items() if key == k or key.startswith(k + ".")), "")
        if problem["type"] == "extra_forbidden":
            lines.append(f"unknown key {key!r}{origin}: check its spelling")
        elif problem["type"] == "missing":
            lines.append(f"missing key {key!r}")
        else:
            lines.append(f"bad value for {key!r}{origin}: {problem['msg']} (got {problem.get('input')!r})")
    return f"invalid configuration from {sources}:\n  " + "\n  ".join(lines)
