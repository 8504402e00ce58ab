"""Temporal views of the events: what is known at a cutoff, and a train/test split around it.

Protocol (../shared/EVALUATION.md): train = events strictly before the cutoff; test = the
cutoff .. end (inclusive). Evaluated users had at least one train interaction; a user's
relevant set is the distinct items of their test events of type eval.relevant_event.
Interactions are built as of the day before the cutoff with the configured weights and decay,
so nothing fitted on a view sees its test side.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from conf import Config
from spark_jobs.interactions import transform as interactions


class EvaluationError(RuntimeError):
    """The evaluation cannot run (no data on one side of the cutoff, an unknown source, ...)."""


@dataclass
class Split:
    """Train and test sides of a temporal split."""

    cutoff: dt.date
    end: dt.date
    train_events: DataFrame
    train: DataFrame        # interactions as of the day before the cutoff
    users: DataFrame        # evaluated users (user_id)
    relevant: DataFrame | None  # user_id, item_id in the test window (None: no test side)
    catalog: DataFrame
    n_train_items: int


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def as_of(events: DataFrame, catalog: DataFrame, config: Config, cutoff: dt.date) -> Split:
    """What is known at midnight starting `cutoff`: earlier events, interactions, their users (no test side)."""
    train_events = events.filter(F.col("event_time") < F.lit(midnight(cutoff))).cache()
    train = interactions(train_events, cutoff - dt.timedelta(days=1), config.interactions).cache()
    return Split(cutoff, cutoff, train_events, train, train.select("user_id").distinct().cache(), None, catalog, 0)


def temporal_split(events: DataFrame, catalog: DataFrame, config: Config, cutoff: dt.date, end: dt.date) -> Split:
    """Cut events at the cutoff and derive train interactions, evaluated users and relevant sets."""
    if end < cutoff:
        raise EvaluationError(f"eval end {end} is before the cutoff {cutoff}")
    known = as_of(events, catalog, config, cutoff)
    test = events.filter((F.col("event_time") >= F.lit(midnight(cutoff)))
                         & (F.col("event_time") < F.lit(midnight(end + dt.timedelta(days=1)))))
    relevant = (test.filter(F.col("event_type") == config.eval.relevant_event)
                .select("user_id", "item_id").distinct().join(known.users, "user_id").cache())
    n_train_items = known.train.select("item_id").distinct().count()
    if n_train_items == 0 or relevant.limit(1).count() == 0:
        raise EvaluationError(f"nothing to evaluate: {n_train_items} train items before {cutoff}, and "
                              f"test users with {config.eval.relevant_event} events in {cutoff}..{end}: "
                              f"{relevant.select('user_id').distinct().count()}; check the dates against the data")
    return Split(cutoff, end, known.train_events, known.train, relevant.select("user_id").distinct().cache(),
                 relevant, catalog, n_train_items)
