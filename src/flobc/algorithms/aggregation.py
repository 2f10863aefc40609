"""Trust-weighted Federated Averaging (paper §III.B "P-SGD", §III.D "trust score as weight").

A new model version is ``w_{v+1} = w_v + lr_server · Σ_{i∈A} ω_i Δ_i / Σ_{i∈A} ω_i`` over the
accepted updates ``A``, where the weight ``ω_i`` is the trainer's trust score ``φ_i``
(optionally times its sample count ``n_i``), or ``n_i`` alone for plain FedAvg.

Determinism: the caller fixes the order (sorted by update id). Accumulation is elementwise
in float64, strictly in that order (no tree reductions whose rounding depends on SIMD width),
weight totals use :func:`math.fsum` (correctly rounded), and the result is cast to float32
exactly once. Equal inputs therefore give identical bytes on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["WeightedUpdate", "aggregate", "aggregate_plain_fedavg", "aggregation_weights"]


@dataclass(frozen=True, slots=True)
class WeightedUpdate:
    """One accepted trainer update: its delta ``Δ_i`` (float32), trust ``φ_i`` and ``n_i``."""

    delta: np.ndarray
    trust: float
    num_samples: int = 1


def _clean_weight(value: float) -> float:
    """A usable weight: non-finite or negative values count as 0."""
    value = float(value)
    return value if math.isfinite(value) and value > 0.0 else 0.0


def aggregation_weights(
    updates: Sequence[WeightedUpdate], *, weight_by_samples: bool = False
) -> list[float]:
    """Normalised weights ``ω_i / Σ ω`` used by :func:`aggregate` (they sum to 1).

    ``ω_i = φ_i`` (or ``φ_i · n_i`` with ``weight_by_samples``); non-finite or negative
    factors count as 0. If every weight is 0 (e.g. all trusts are 0) the updates are
    weighted equally instead: the ledger accepted them, so they must not vanish, and
    dividing by zero would produce NaN.
    """
    raw = []
    for u in updates:
        w = _clean_weight(u.trust)
        if weight_by_samples:
            w *= _clean_weight(u.num_samples)
        raw.append(w if math.isfinite(w) else 0.0)
    return _normalise(raw)


def _normalise(raw: list[float]) -> list[float]:
    if not raw:
        return []
    total = math.fsum(raw)
    if not (total > 0.0 and math.isfinite(total)):
        return [1.0 / len(raw)] * len(raw)
    return [w / total for w in raw]


def _apply(
    base: np.ndarray, deltas: Sequence[np.ndarray], weights: list[float], server_lr: float
) -> np.ndarray:
    if not math.isfinite(server_lr):
        raise ValueError(f"server_lr must be finite, got {server_lr!r}")
    base64 = np.asarray(base, dtype=np.float64)
    if not np.isfinite(base64).all():
        raise ValueError("base model contains non-finite values")
    if not deltas:
        return np.array(base, dtype=np.float32, copy=True)
    acc = np.zeros(base64.shape, dtype=np.float64)
    for idx, (delta, weight) in enumerate(zip(deltas, weights, strict=True)):
        d64 = np.asarray(delta, dtype=np.float64)
        if d64.shape != base64.shape:
            raise ValueError(f"update {idx}: shape {d64.shape} != base shape {base64.shape}")
        if not np.isfinite(d64).all():
            raise ValueError(f"update {idx}: delta contains non-finite values")
        acc += weight * d64
    out = base64 + server_lr * acc
    return out.astype(np.float32)


def aggregate(
    base: np.ndarray,
    updates: Sequence[WeightedUpdate],
    *,
    weight_by_samples: bool = False,
    server_lr: float = 1.0,
) -> np.ndarray:
    """Trust-weighted FedAvg: ``base + server_lr · Σ φ_i Δ_i / Σ φ_i`` as float32.

    ``updates`` must already be in canonical order (the app sorts by trainer id). With no updates
    the base is returned unchanged (a copy). All-zero trusts fall back to equal weights
    (see :func:`aggregation_weights`). Raises ``ValueError`` on a shape mismatch, a
    non-finite delta/base or a non-finite ``server_lr``: the app must reject such updates
    at admission, never here.
    """
    weights = aggregation_weights(updates, weight_by_samples=weight_by_samples)
    return _apply(base, [u.delta for u in updates], weights, server_lr)


def aggregate_plain_fedavg(
    base: np.ndarray, updates: Sequence[WeightedUpdate], *, server_lr: float = 1.0
) -> np.ndarray:
    """Classic FedAvg (McMahan et al.): weights are sample counts ``n_i``, trust is ignored.

    All-zero sample counts fall back to equal weights, exactly as in :func:`aggregate`.
    """
    weights = _normalise([_clean_weight(u.num_samples) for u in updates])
    return _apply(base, [u.delta for u in updates], weights, server_lr)
