"""Adaptive synchronisation period (the paper's future work, §VII).

"Allowing more adaptability in the sync periods based on the expected time that most
trainers take to submit their updates in one round": the next period is the configured
percentile of recent submission delays (time from round start to a trainer's submission),
times a safety margin, clamped to ``[min_ms, max_ms]``.

Everything is exact integer/rational arithmetic: the percentile uses the nearest-rank
method and float parameters are read as their exact decimals (``90.0`` → 90, ``1.2`` →
6/5), so every validator computes the same period.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

__all__ = ["DEFAULT_MARGIN", "nearest_rank_percentile", "next_period"]

#: Default safety margin over the percentile delay (20 % head-room).
DEFAULT_MARGIN = 1.2


def _exact(value: float, label: str) -> Fraction:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{label} must be finite, got {value!r}")
    return Fraction(repr(value))


def nearest_rank_percentile(values: Sequence[int], percentile: float) -> int:
    """Nearest-rank percentile: the ``⌈p/100 · n⌉``-th smallest value (at least the 1st).

    ``percentile`` must be in (0, 100]; ``values`` must be non-empty.
    """
    if not values:
        raise ValueError("no values")
    p = _exact(percentile, "percentile")
    if not (0 < p <= 100):
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    ordered = sorted(int(v) for v in values)
    rank = max(1, math.ceil(p * len(ordered) / 100))
    return ordered[rank - 1]


def next_period(
    recent_submission_delays_ms: Sequence[int],
    *,
    percentile: float,
    min_ms: int,
    max_ms: int,
    current_ms: int,
    margin: float = DEFAULT_MARGIN,
) -> int:
    """Period for the next round: ``clamp(⌈margin · P_pct(delays)⌉, min_ms, max_ms)``.

    Negative delays are treated as 0. With no data the current period is kept (clamped to
    the bounds). ``margin`` must be ≥ 0 (1.0 = no head-room).
    """
    if min_ms <= 0 or max_ms < min_ms:
        raise ValueError(f"need 0 < min_ms <= max_ms, got {min_ms}, {max_ms}")
    m = _exact(margin, "margin")
    if m < 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    if not recent_submission_delays_ms:
        return min(max_ms, max(min_ms, int(current_ms)))
    delays = [max(0, int(d)) for d in recent_submission_delays_ms]
    target = math.ceil(m * nearest_rank_percentile(delays, percentile))
    return min(max_ms, max(min_ms, target))
