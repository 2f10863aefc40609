"""Coordinate-wise trimmed mean (Yin et al., ICML 2018).

For every coordinate, the ``k`` smallest and ``k`` largest values are dropped and the rest
averaged. ``k`` is either a count ``f`` (the number of attackers tolerated) or
``floor(beta · n)`` for a fraction ``beta`` of the ``n`` updates of the round. The result
stays within the honest range of each coordinate while attackers are at most ``k``.
Rounds with few updates trim less, never everything: ``k ≤ (n - 1) // 2``.

Trust: ignored, except that zero-trust updates are left out (:func:`~.base.eligible`).

Determinism: the kept values are summed in sorted order (one elementwise float64 addition
per rank), so the result does not depend on the order of the updates, to the byte.
Cost: ``O(n log n · d)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from flobc.algorithms.aggregators.base import (
    StackedRule,
    WeightedUpdate,
    float_param,
    int_param,
)

__all__ = ["TrimmedMean", "trimmed_mean"]


def trimmed_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Mean of ranks ``k .. n-k-1`` of every column of ``x`` (``k`` clamped to ``(n-1)//2``)."""
    n = x.shape[0]
    k = min(k, (n - 1) // 2)
    s = np.sort(x, axis=0)
    acc = np.zeros(x.shape[1], dtype=np.float64)
    for rank in range(k, n - k):
        acc += s[rank]
    return acc / (n - 2 * k)


class TrimmedMean(StackedRule):
    """Registry entry ``trimmed_mean``: give ``beta`` (fraction per side, in ``[0, 0.5)``)
    or ``f`` (count per side); the default is ``beta = 0.1``."""

    name = "trimmed_mean"

    def __init__(self, beta: float | None = None, f: int | None = None) -> None:
        if beta is not None and f is not None:
            raise ValueError("give either beta or f, not both")
        self.f = None if f is None else int_param("f", f)
        self.beta = None
        if f is None:
            self.beta = float_param("beta", 0.1 if beta is None else beta, minimum=0.0)
            if self.beta >= 0.5:
                raise ValueError(f"beta must be < 0.5, got {self.beta!r}")

    def __repr__(self) -> str:
        return f"TrimmedMean(beta={self.beta!r}, f={self.f!r})"

    def trim(self, n: int) -> int:
        """How many values are dropped on each side of a coordinate among ``n``."""
        k = self.f if self.f is not None else math.floor(self.beta * n)  # type: ignore[operator]
        return min(k, (n - 1) // 2)

    def combine(self, x: np.ndarray, updates: Sequence[WeightedUpdate]) -> np.ndarray:
        return trimmed_mean(x, self.trim(x.shape[0]))
