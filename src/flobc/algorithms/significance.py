"""Approximate Synchronous Parallel (ASP) significance filter (paper §III.C.4, beyond it).

The paper names ASP but does not implement it: updates that are *not significant* are
ignored to spare their synchronisation cost. Here an update is significant iff its
relative magnitude ``‖Δ‖₂ / ‖w‖₂`` reaches the threshold. Insignificant updates are not
broadcast or aggregated and are counted as skipped; ASP rounds otherwise behave like BSP.

Norms are computed from float64 squares summed with :func:`math.fsum` (correctly rounded,
independent of BLAS/SIMD), so every validator reaches the same verdict, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

__all__ = ["is_significant", "l2_norm", "partition_significant", "relative_magnitude"]

K = TypeVar("K")


def l2_norm(x: np.ndarray) -> float:
    """Deterministic Euclidean norm (NaN if ``x`` has non-finite entries)."""
    x64 = np.asarray(x, dtype=np.float64).ravel()
    if not np.isfinite(x64).all():
        return math.nan
    with np.errstate(over="ignore"):
        squares = np.square(x64).tolist()  # exact for float32 input
    try:
        return math.sqrt(math.fsum(squares))
    except OverflowError:  # only for float64 input near the float64 limit
        return math.inf


def relative_magnitude(delta: np.ndarray, base: np.ndarray) -> float:
    """``‖Δ‖₂ / ‖w‖₂``; 0.0 for a zero delta, ``inf`` for a nonzero delta on a zero base,
    NaN if either array has non-finite entries."""
    return _ratio(l2_norm(delta), l2_norm(base))


def _ratio(d: float, w: float) -> float:
    if math.isnan(d) or math.isnan(w):
        return math.nan
    if d == 0.0:
        return 0.0
    if w == 0.0:
        return math.inf
    return d / w


def is_significant(delta: np.ndarray, base: np.ndarray, threshold: float) -> bool:
    """ASP rule: significant iff ``‖Δ‖₂/‖w‖₂ ≥ threshold``.

    A threshold ≤ 0 makes every finite update significant. Non-finite input is never
    significant (the app should have rejected it at admission anyway).
    """
    rel = relative_magnitude(delta, base)
    return bool(rel >= threshold)


def partition_significant(
    base: np.ndarray, updates: Sequence[tuple[K, np.ndarray]], threshold: float
) -> tuple[list[tuple[K, np.ndarray]], int]:
    """Keep significant ``(key, delta)`` pairs in the given order; return them and the
    number skipped."""
    w = l2_norm(base)  # once, not per update
    kept = [(k, d) for k, d in updates if _ratio(l2_norm(d), w) >= threshold]
    return kept, len(updates) - len(kept)
