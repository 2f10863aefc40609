"""The validation-rule interface and the robust median of vote measures."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from flobc.algorithms.validation.noise import DeclaredNoise

#: One validator's vote: measure name -> value (every value finite; the app checks).
Vote = Mapping[str, float]

#: Measures are clamped to ±this so medians of two middle values stay finite.
MAX_ABS_MEASURE = 1e300


@dataclass(frozen=True, slots=True)
class RuleDecision:
    """An update's verdict, the improvement that moves reputation, and why."""

    accepted: bool
    improvement: float
    reason: str = ""


@runtime_checkable
class ValidationRule(Protocol):
    """Decides one update from the votes of a BFT quorum of validators.

    ``measures`` lists what each vote must carry; the app refuses votes without them, so
    ``decide`` always sees complete votes. ``decide`` runs inside block execution: pure,
    deterministic, no ML. ``noise`` is the differential privacy the update's trainer
    declared and signed (None for a clean update); rules that ignore it may.
    """

    name: str
    measures: tuple[str, ...]

    def decide(self, votes: Sequence[Vote], noise: DeclaredNoise | None = None) -> RuleDecision: ...


def clamp(value: float) -> float:
    """A finite stand-in for ``value``: NaN is the worst vote, ±inf is clamped."""
    value = float(value)
    if math.isnan(value):
        return -MAX_ABS_MEASURE
    return min(MAX_ABS_MEASURE, max(-MAX_ABS_MEASURE, value))


def median(values: Sequence[float]) -> float:
    """The statistical median (mean of the two middle values for an even count).

    With at most f Byzantine votes in a quorum of 2f+1 the median lies between honest
    values: a Byzantine minority cannot drag any measure outside the honest range.
    """
    xs = sorted(clamp(v) for v in values)
    n = len(xs)
    if n == 0:
        return 0.0
    mid = n // 2
    return xs[mid] if n % 2 else xs[mid - 1] / 2.0 + xs[mid] / 2.0
