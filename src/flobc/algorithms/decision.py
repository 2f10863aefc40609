"""Acceptance of a trainer update from validators' votes (paper §III.B and §III.D).

Each validator adds the trainer's delta to the latest model, scores it on its own
validation data and votes ``(score, base_score)``. The update's *improvement* is the
median of ``score - base_score`` over the votes, which a minority of Byzantine validators
cannot drag arbitrarily (< 1/3 of votes can at most shift it by one rank position).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MAX_ABS_IMPROVEMENT", "Decision", "decide", "has_quorum", "median_improvement"]

#: Per-vote differences are clamped to ±this, so the median and the mean of two middle
#: values stay finite (their sum cannot overflow).
MAX_ABS_IMPROVEMENT = 1e300


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome for one update: accepted iff ``improvement >= threshold``."""

    accepted: bool
    improvement: float


def _vote_difference(score: float, base_score: float) -> float:
    """``score - base_score``, made finite: NaN counts as the worst vote, ±inf is clamped."""
    diff = float(score) - float(base_score)
    if math.isnan(diff):
        return -MAX_ABS_IMPROVEMENT
    return min(MAX_ABS_IMPROVEMENT, max(-MAX_ABS_IMPROVEMENT, diff))


def median_improvement(votes: Sequence[tuple[float, float]]) -> float:
    """Median over votes of ``score - base_score``; 0.0 for no votes.

    With an even number of votes it is the mean of the two middle values (the usual
    statistical median), computed as ``a/2 + b/2`` after clamping, so it is always finite.
    Non-finite differences are sanitised per vote (NaN → -1e300, ±inf → ±1e300).
    """
    diffs = sorted(_vote_difference(s, b) for s, b in votes)
    n = len(diffs)
    if n == 0:
        return 0.0
    mid = n // 2
    if n % 2:
        return diffs[mid]
    return diffs[mid - 1] / 2.0 + diffs[mid] / 2.0


def decide(votes: Sequence[tuple[float, float]], *, threshold: float) -> Decision:
    """Decide one update: ``improvement = median(score - base_score)``, accepted iff ≥ threshold.

    Quorum is the caller's job (see :func:`has_quorum`); with no votes the update is not
    accepted and its improvement is 0.0. A NaN threshold accepts nothing.
    """
    if not votes:
        return Decision(accepted=False, improvement=0.0)
    improvement = median_improvement(votes)
    return Decision(accepted=bool(improvement >= threshold), improvement=improvement)


def has_quorum(voters_power: int, total_power: int) -> bool:
    """BFT quorum: strictly more than 2/3 of the total voting power (integer arithmetic)."""
    if total_power <= 0:
        return False
    return 3 * voters_power > 2 * total_power
