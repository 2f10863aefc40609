"""Trust-weighted Federated Averaging (paper §III.B "P-SGD", §III.D "trust score as weight").

A new model version is ``w_{v+1} = w_v + lr_server · Σ_{i∈A} ω_i Δ_i / Σ_{i∈A} ω_i`` over the
accepted updates ``A``, where the weight ``ω_i`` is the trainer's trust score ``φ_i``
(optionally times its sample count ``n_i``), or ``n_i`` alone for plain FedAvg.

Determinism: the caller fixes the order (sorted by trainer registration index).
Accumulation is elementwise in float64, strictly in that order (no tree reductions whose
rounding depends on SIMD width), weight totals use :func:`math.fsum` (correctly rounded),
and the result is cast to float32 exactly once. Equal inputs therefore give identical
bytes on every machine. FedAvg is not robust: one update can move the result anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from flobc.algorithms.aggregators.base import WeightedUpdate, clean_weight, normalise

__all__ = ["FedAvg", "aggregate", "aggregate_plain_fedavg", "aggregation_weights"]


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
        w = clean_weight(u.trust)
        if weight_by_samples:
            w *= clean_weight(u.num_samples)
        raw.append(w if math.isfinite(w) else 0.0)
    return normalise(raw)


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

    ``updates`` must already be in canonical order (the app sorts by trainer index). With no
    updates the base is returned unchanged (a copy). All-zero trusts fall back to equal
    weights (see :func:`aggregation_weights`). Raises ``ValueError`` on a shape mismatch, a
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
    weights = normalise([clean_weight(u.num_samples) for u in updates])
    return _apply(base, [u.delta for u in updates], weights, server_lr)


class FedAvg:
    """Registry entry ``fedavg``: :func:`aggregate` (trust weights, optionally * ``n_i``).

    Trust is the weight itself; a zero-trust update has no effect unless all are zero.
    Cost ``O(n·d)``, streaming (no ``n * d`` matrix is built).
    """

    name = "fedavg"

    def __init__(self, weight_by_samples: bool | float = False) -> None:
        if weight_by_samples not in (True, False, 0, 1):
            raise ValueError(f"weight_by_samples must be a boolean, got {weight_by_samples!r}")
        self.weight_by_samples = bool(weight_by_samples)

    def __repr__(self) -> str:
        return f"FedAvg(weight_by_samples={self.weight_by_samples!r})"

    def aggregate(
        self, base: np.ndarray, updates: Sequence[WeightedUpdate], *, server_lr: float = 1.0
    ) -> np.ndarray:
        return aggregate(
            base, updates, weight_by_samples=self.weight_by_samples, server_lr=server_lr
        )
