"""Coordinate-wise median (Yin et al., ICML 2018, "Byzantine-robust distributed learning").

``step_j = median_i Δ_{i,j}`` for every coordinate ``j``; with an even count, the mean of
the two middle values. The median stays within the range of the honest values of each
coordinate while attackers are fewer than half of the updates.

Trust: ignored, except that zero-trust updates are left out (:func:`~.base.eligible`);
weighting a median by trust would let one trusted identity move it.

Determinism: a sort only moves values, and ``-0.0`` was normalised, so the middle values are
bit-identical whatever the sort algorithm; the even-count mean is one float64 addition
and halving. The result is invariant to the order of the updates, to the byte.
Cost: ``O(n log n · d)`` (a sort of each coordinate).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flobc.algorithms.aggregators.base import StackedRule, WeightedUpdate

__all__ = ["Median", "coordinate_median"]


def coordinate_median(x: np.ndarray) -> np.ndarray:
    """The coordinate-wise median of the rows of the float64 matrix ``x`` (``n ≥ 1``)."""
    n = x.shape[0]
    s = np.sort(x, axis=0)
    if n % 2:
        return s[n // 2].copy()
    return (s[n // 2 - 1] + s[n // 2]) * 0.5


class Median(StackedRule):
    """Registry entry ``median`` (no parameters)."""

    name = "median"

    def __repr__(self) -> str:
        return "Median()"

    def combine(self, x: np.ndarray, updates: Sequence[WeightedUpdate]) -> np.ndarray:
        return coordinate_median(x)
