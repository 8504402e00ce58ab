"""Typed configuration: one pydantic model per section of conf/*.yaml."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EVENT_TYPES = ("view", "add_to_cart", "remove_from_cart", "purchase")


class Section(BaseModel):
    """Base for every section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class PathsConfig(Section):
    """Where data lives. Relative paths are taken from the project root; URIs (s3a://...) as given."""

    raw: str = Field(description="root of raw input: {raw}/events/dt=YYYY-MM-DD/, {raw}/catalog/dt=.../")
    lake: str = Field(description="root of the run outputs: {lake}/curated/<dataset>/dt=YYYY-MM-DD/")
    snapshots: str = "var/snapshots"


class SparkConfig(Section):
    """How to reach Spark. `master` is local[N], spark://host:port, yarn or k8s://https://host:port."""

    master: str = "local[2]"
    app_name: str = "recs"
    shuffle_partitions: int = Field(4, ge=1)
    driver_memory: str = "2g"
    python: str | None = Field(None, description="worker interpreter; default: the one running recs")
    local_dir: str | None = None
    ui_enabled: bool = False
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
    half_life_days: float = Field(30.0, gt=0)
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
    events_format: Literal["jsonl", "csv", "parquet"] = "jsonl"
    compress: bool = True


class Config(Section):
    """The whole effective configuration."""

    env: str = "local"
    seed: int = 42
    paths: PathsConfig
    spark: SparkConfig = Field(default_factory=SparkConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    interactions: InteractionsConfig = Field(default_factory=InteractionsConfig)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)

    @model_validator(mode="after")
    def _lake_differs_from_raw(self) -> Config:
        if self.paths.raw.rstrip("/") == self.paths.lake.rstrip("/"):
            raise ValueError("paths.raw and paths.lake must differ: the lake is overwritten per run date")
        return self
