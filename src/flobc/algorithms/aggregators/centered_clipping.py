"""Centered clipping (Karimireddy, He & Jaggi, "Learning from History for Byzantine Robust
Optimization", ICML 2021).

Starting from a center ``v_0``, each of ``L`` iterations moves it by the mean of the
updates' offsets, each clipped to norm ``τ``::

    v_{l+1} = v_l + (1/n) Σ_i (Δ_i - v_l) · min(1, τ / ‖Δ_i - v_l‖)

so an attacker moves the result by at most ``τ/n`` per iteration, however large its update.
The paper centers on the previous aggregate (momentum); here the center is the zero update,
i.e. the current model, since the ledger keeps no server momentum. ``τ`` is in the units
of the deltas: pick it near the honest update norms (or use ``norm_clipping`` before).

Trust: uniform ``1/n`` weights as in the paper (its bound assumes them); zero-trust updates
are left out (:func:`~.base.eligible`).

Determinism: offsets' norms use :func:`~.base.row_norms`, sums the canonical input order;
the rule is symmetric, but the last bits follow that order. Cost: ``O(L · n · d)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flobc.algorithms.aggregators.base import (
    StackedRule,
    WeightedUpdate,
    accumulate,
    float_param,
    int_param,
    row_norms,
)

__all__ = ["CenteredClipping", "centered_clip"]


def centered_clip(x: np.ndarray, tau: float, iterations: int) -> np.ndarray:
    """``iterations`` centered-clipping steps over the rows of ``x`` from the zero vector."""
    n = x.shape[0]
    v = np.zeros(x.shape[1], dtype=np.float64)
    for _ in range(iterations):
        norms = row_norms(x, v).tolist()
        scales = [(min(1.0, tau / r) if r > 0.0 else 1.0) / n for r in norms]
        v = v + accumulate(x - v, scales)
    return v


class CenteredClipping(StackedRule):
    """Registry entry ``centered_clipping``: params ``tau`` (> 0, default 1.0) and
    ``iterations`` (default 3)."""

    name = "centered_clipping"

    def __init__(self, tau: float = 1.0, iterations: int = 3) -> None:
        self.tau = float_param("tau", tau, minimum=0.0, strict=True)
        self.iterations = int_param("iterations", iterations, minimum=1)

    def __repr__(self) -> str:
        return f"CenteredClipping(tau={self.tau!r}, iterations={self.iterations!r})"

    def combine(self, x: np.ndarray, updates: Sequence[WeightedUpdate]) -> np.ndarray:
        return centered_clip(x, self.tau, self.iterations)
