"""What a barrier reads and decides: the open round's ledger facts and the decisions.

A :class:`RoundView` is what the ledger knows at block time ``now_ms``; a scheme answers
with :class:`Continue`, :class:`Extend` or :class:`Release`. The ratio helpers are exact:
integer milliseconds, counts of trainer ids, decimal ratios read as fractions.
"""

from __future__ import annotations

import math
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Literal, TypeAlias

__all__ = [
    "Admission",
    "Candidate",
    "Continue",
    "Extend",
    "Release",
    "ReleaseReason",
    "RoundView",
    "SyncDecision",
    "all_decided",
    "extension_ms",
    "labour_ratio",
    "required_decided",
    "slack_ratio",
]

ReleaseReason: TypeAlias = Literal[
    "deadline", "extension_end", "all_decided", "ratio_reached", "max_duration"
]


@dataclass(frozen=True, slots=True)
class RoundView:
    """Ledger facts about the open round, seen at block time ``now_ms``.

    ``submitted``/``decided`` hold trainer ids with ≥ 1 submitted/decided update in this
    round; only those in ``active_trainers`` count. ``extension_until_ms`` is set once SSP
    granted its extension (None = not granted).

    The three id sets may be any read-only set (the ledger passes views of its own
    tables, so building a view copies nothing: an update check costs O(1), not O(trainers));
    other iterables are frozen. The rules below only count and look up.
    """

    round: int
    base_version: int
    started_at_ms: int
    now_ms: int
    period_ms: int
    active_trainers: AbstractSet[str]
    submitted: AbstractSet[str] = frozenset()
    decided: AbstractSet[str] = frozenset()
    extension_until_ms: int | None = None

    def __post_init__(self) -> None:
        for name in ("active_trainers", "submitted", "decided"):
            value = getattr(self, name)
            if not isinstance(value, AbstractSet):
                object.__setattr__(self, name, frozenset(value))
        if self.period_ms <= 0:
            raise ValueError("period_ms must be > 0")

    @property
    def deadline_ms(self) -> int:
        return self.started_at_ms + self.period_ms

    @property
    def extension_granted(self) -> bool:
        return self.extension_until_ms is not None

    @property
    def n_active(self) -> int:
        return len(self.active_trainers)

    @property
    def n_decided(self) -> int:
        """Active trainers with a decided update."""
        return _overlap(self.decided, self.active_trainers)

    @property
    def n_missing(self) -> int:
        """Active trainers without a submission."""
        return self.n_active - _overlap(self.submitted, self.active_trainers)


def _overlap(a: AbstractSet[str], b: AbstractSet[str]) -> int:
    """|a ∩ b|, walking the smaller set and looking up in the other."""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return sum(1 for x in small if x in large)


@dataclass(frozen=True, slots=True)
class Continue:
    """Keep the round open; nothing changes by time alone before ``next_check_at_ms``
    (a new decision can, so re-evaluate after decisions too)."""

    next_check_at_ms: int


@dataclass(frozen=True, slots=True)
class Extend:
    """SSP: extend the deadline once, to ``until_ms`` (= deadline + ⌊slack · P⌋)."""

    until_ms: int
    slack_ratio: float


@dataclass(frozen=True, slots=True)
class Release:
    """Close the round and release the aggregated model."""

    reason: ReleaseReason


SyncDecision: TypeAlias = Continue | Extend | Release


class Admission(StrEnum):
    """Whether an update counts for the open round, and if not, why."""

    OK = "ok"
    STALE_BASE = "stale_base"  # trained on another version than the round's base
    LATE = "late"  # arrived after the scheme's last moment for updates
    STEP_LIMIT = "ssp_step_limit"  # an SSP extra update with more than N local steps
    RESUBMITTED = "resubmitted"  # the scheme allows this trainer no further update now


@dataclass(frozen=True, slots=True)
class Candidate:
    """An update being admitted: who sent it, on which base, at which block time, how many
    local steps it declares, and when (block time) the trainer's current update of this
    round went in (None: it has none)."""

    trainer: str
    base_version: int
    at_ms: int
    local_steps: int = 0
    earlier_at_ms: int | None = None


def labour_ratio(view: RoundView) -> float:
    """(active trainers with ≥ 1 decided update)/(active trainers); 0.0 with none active."""
    if not view.n_active:
        return 0.0
    return view.n_decided / view.n_active


def slack_ratio(view: RoundView) -> float:
    """(active trainers without a submission)/(active trainers); 0.0 with none active."""
    if not view.n_active:
        return 0.0
    return view.n_missing / view.n_active


def extension_ms(view: RoundView) -> int:
    """SSP extension length ``⌊P · missing / active⌋`` in exact integer arithmetic."""
    if not view.n_active:
        return 0
    return view.period_ms * view.n_missing // view.n_active


def required_decided(majority_ratio: float, n_active: int) -> int:
    """Fewest decided trainers whose share reaches ``majority_ratio``: ⌈ratio · n⌉.

    The ratio is read as its exact decimal (``0.6`` means 3/5), so e.g. 3 of 5 trainers reach
    0.6 but 2 do not, with no binary floating-point rounding at the boundary.
    """
    return math.ceil(Fraction(repr(float(majority_ratio))) * n_active)


def all_decided(view: RoundView) -> bool:
    """Every active trainer has a decided update (false when nobody is active)."""
    return view.n_active > 0 and view.n_decided == view.n_active
