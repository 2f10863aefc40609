"""Norm clipping as a pre-step to any rule (Sun et al., "Can You Really Backdoor Federated
Learning?", 2019; the adaptive threshold follows the median-norm heuristic of robust FL).

Every delta whose norm exceeds ``multiplier * median_i ‖Δ_i‖`` is scaled down to that norm,
then the wrapped rule aggregates the clipped deltas. Scaling/boosting attacks (x k, model
replacement) then weigh no more than a typical honest update, while attackers are fewer
than half (so the median norm is an honest one). A multiplier of 1 clips every update
above the median; a larger one only clips outliers.

Trust: the median is over all the round's updates, whatever their trust (a
clipping threshold is a property of the round, not of who is trusted); the wrapped rule
then uses trust as it documents.

Determinism: norms use :func:`~.base.row_norms`; the median of norms is a sort of
scalars (even count: mean of the two middle ones); a clipped delta is the float64 product
with ``threshold / norm``, handed to the wrapped rule in float64 (no intermediate cast;
the wrapped rule casts its result to float32 once). Cost: ``O(n · d)`` before the rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flobc.algorithms.aggregators.base import (
    Aggregator,
    WeightedUpdate,
    check_base,
    float_param,
    row_norms,
    stack,
)

__all__ = ["NormClipping", "clip_to_median_norm"]


def clip_to_median_norm(x: np.ndarray, multiplier: float) -> np.ndarray:
    """Rows of ``x`` with norms above ``multiplier * median norm`` scaled down onto it."""
    norms = row_norms(x)
    s = sorted(norms.tolist())
    n = len(s)
    median = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) * 0.5
    threshold = multiplier * median
    out = x.copy()
    for i, r in enumerate(norms.tolist()):
        if r > threshold:  # r > 0 here, so the division is finite
            out[i] *= threshold / r
    return out


class NormClipping:
    """Wraps ``inner``: clip to ``multiplier * median norm``, then aggregate with ``inner``.

    ``name`` is ``"<inner>+norm_clipping"``; build it with
    ``aggregator_from_name(rule, clip_multiplier=...)``.
    """

    def __init__(self, inner: Aggregator, multiplier: float) -> None:
        self.inner = inner
        self.multiplier = float_param("clip_multiplier", multiplier, minimum=0.0, strict=True)
        self.name = f"{inner.name}+norm_clipping"

    def __repr__(self) -> str:
        return f"NormClipping({self.inner!r}, multiplier={self.multiplier!r})"

    def aggregate(
        self, base: np.ndarray, updates: Sequence[WeightedUpdate], *, server_lr: float = 1.0
    ) -> np.ndarray:
        base64 = check_base(base, server_lr)
        if not updates:
            return base64.astype(np.float32)
        clipped = clip_to_median_norm(stack(base64, updates), self.multiplier)
        shape = base64.shape
        rebuilt = [
            WeightedUpdate(row.reshape(shape), u.trust, u.num_samples)
            for row, u in zip(clipped, updates, strict=True)
        ]
        return self.inner.aggregate(base, rebuilt, server_lr=server_lr)
