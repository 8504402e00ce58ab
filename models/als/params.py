"""The hyperparameters of one ALS fit, and the error both engines raise."""

from __future__ import annotations

from dataclasses import dataclass

from conf.schema import AlsConfig


@dataclass(frozen=True)
class AlsParams:
    """The hyperparameters one fit uses."""

    factors: int
    regularization: float
    alpha: float
    iterations: int

    @classmethod
    def of(cls, settings: AlsConfig) -> AlsParams:
        return cls(settings.factors, settings.regularization, settings.alpha, settings.iterations)


class AlsError(RuntimeError):
    """ALS cannot run as configured; the message says what to change."""
