"""Geometric median by the smoothed Weiszfeld algorithm (Pillutla, Kakade & Harchaoui,
"Robust Aggregation for Federated Learning", IEEE TSP 2022 — RFA).

The weighted geometric median ``argmin_v Σ w_i ‖v - Δ_i‖`` has breakdown point 1/2: it
stays near the honest updates while their total weight exceeds half. RFA approximates it
with ``T`` smoothed Weiszfeld steps from the weighted mean ``v_0``::

    β_i = w_i / max(nu, ‖v_t - Δ_i‖),   v_{t+1} = Σ β_i Δ_i / Σ β_i

``nu > 0`` keeps a step finite when ``v_t`` lands on an update. The iteration count is FIXED
(no convergence test) so every validator does exactly the same arithmetic.

Trust: ``w_i`` is the trainer's trust ``φ_i`` normalised over the round (equal weights if
all are 0), as in RFA, where ``w_i`` is the client's weight; a zero-trust update has no
influence.

Determinism: distances use :func:`~.base.row_norms`, weight totals :func:`math.fsum`,
weighted sums the canonical input order. The rule is symmetric, but the last bits of the
result follow that order. Cost: ``O(T · n · d)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flobc.algorithms.aggregators.base import (
    StackedRule,
    WeightedUpdate,
    accumulate,
    clean_weight,
    float_param,
    int_param,
    normalise,
    row_norms,
)

__all__ = ["GeometricMedian", "weiszfeld"]


def weiszfeld(x: np.ndarray, alphas: Sequence[float], iterations: int, nu: float) -> np.ndarray:
    """``iterations`` smoothed Weiszfeld steps from the ``alphas``-weighted mean of ``x``'s rows."""
    v = accumulate(x, alphas)
    for _ in range(iterations):
        dist = row_norms(x, v)
        betas = [a / max(nu, float(r)) for a, r in zip(alphas, dist.tolist(), strict=True)]
        v = accumulate(x, normalise(betas))
    return v


class GeometricMedian(StackedRule):
    """Registry entry ``geometric_median``: params ``iterations`` (default 10) and ``nu``
    (smoothing, default 1e-6, in the units of the deltas)."""

    name = "geometric_median"

    def __init__(self, iterations: int = 10, nu: float = 1e-6) -> None:
        self.iterations = int_param("iterations", iterations)
        self.nu = float_param("nu", nu, minimum=0.0, strict=True)

    def __repr__(self) -> str:
        return f"GeometricMedian(iterations={self.iterations!r}, nu={self.nu!r})"

    skip_untrusted = False  # trust is the Weiszfeld weight

    def combine(self, x: np.ndarray, updates: Sequence[WeightedUpdate]) -> np.ndarray:
        alphas = normalise([clean_weight(u.trust) for u in updates])
        return weiszfeld(x, alphas, self.iterations, self.nu)
