"""The aggregator interface and the deterministic arithmetic every rule shares.

Aggregation runs inside block execution on every validator, so a rule must give the same
bytes on every machine. The helpers here keep to operations whose result IEEE 754 fixes
exactly, whatever the SIMD width or BLAS build:

* elementwise ``+ - * / sqrt`` on float64 arrays (each element is one correctly rounded
  operation; numpy does not fuse a separate multiply and add);
* sums in a *fixed* association order (:func:`row_sums`, :func:`accumulate`), never
  ``np.sum``/``np.dot``/BLAS, whose pairwise or SIMD reduction order may change;
* :func:`math.fsum` (correctly rounded) for short lists of scalars;
* sorting, which only moves values. ``-0.0`` is turned into ``+0.0`` first (:func:`stack`),
  so values that compare equal are bit-identical and an unstable sort cannot leak into
  the bytes of a median.

Rules start from a float64 copy of the deltas and cast to float32 once, at the end.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Aggregator",
    "WeightedUpdate",
    "accumulate",
    "check_base",
    "clean_weight",
    "eligible",
    "finish",
    "float_param",
    "int_param",
    "normalise",
    "row_norms",
    "row_sums",
    "stack",
]

#: Width of the partial-sum accumulator of :func:`row_sums` (a power of two).
_BLOCK = 1024
#: :func:`row_sums` processes at most this many float64 values at once (~32 MB).
_CHUNK_VALUES = 1 << 22


@dataclass(frozen=True, slots=True)
class WeightedUpdate:
    """One accepted trainer update: its delta ``Δ_i`` (float32), trust ``φ_i`` and ``n_i``."""

    delta: np.ndarray
    trust: float
    num_samples: int = 1


@runtime_checkable
class Aggregator(Protocol):
    """A rule turning the round's accepted updates into the next model.

    ``updates`` arrive in the canonical order (trainer registration index); rules that are
    symmetric in their inputs use that order only to break ties and to fix the rounding
    of sums. The result is ``base + server_lr · step`` as float32; with no updates, a
    float32 copy of ``base``.
    """

    name: str

    def aggregate(
        self, base: np.ndarray, updates: Sequence[WeightedUpdate], *, server_lr: float = 1.0
    ) -> np.ndarray: ...


# ---------------------------------------------------------------------- weights


def clean_weight(value: float) -> float:
    """A usable weight: non-finite or negative values count as 0."""
    value = float(value)
    return value if math.isfinite(value) and value > 0.0 else 0.0


def normalise(raw: Sequence[float]) -> list[float]:
    """Weights scaled to sum to 1 (fsum); all-zero or non-finite totals → equal weights.

    The ledger accepted every update passed in, so none may vanish by a division by zero.
    """
    if not raw:
        return []
    total = math.fsum(raw)
    if not (total > 0.0 and math.isfinite(total)):
        return [1.0 / len(raw)] * len(raw)
    return [w / total for w in raw]


def eligible(updates: Sequence[WeightedUpdate]) -> list[int]:
    """Indices of updates with positive trust, or all of them when none has any.

    Robust rules treat updates as equals (trust-weighting a median would let one trusted
    identity move it), so trust enters them only here: reputation at 0 means the ledger
    judged the trainer dishonest, and FedAvg would give it weight 0 too. When every trust
    is 0, everyone counts, as in FedAvg's equal-weight fallback.
    """
    keep = [i for i, u in enumerate(updates) if clean_weight(u.trust) > 0.0]
    return keep or list(range(len(updates)))


# ---------------------------------------------------------------------- arrays


def check_base(base: np.ndarray, server_lr: float) -> np.ndarray:
    """``base`` as a flat-shaped float64 copy; rejects a non-finite base or ``server_lr``."""
    if not math.isfinite(server_lr):
        raise ValueError(f"server_lr must be finite, got {server_lr!r}")
    base64 = np.array(base, dtype=np.float64)
    if not np.isfinite(base64).all():
        raise ValueError("base model contains non-finite values")
    return base64


def stack(base64: np.ndarray, updates: Sequence[WeightedUpdate]) -> np.ndarray:
    """The deltas as one C-contiguous float64 matrix ``(n, size)``, validated.

    Accepts any memory layout or float dtype; raises ``ValueError`` on a shape mismatch or a
    non-finite value (the app rejects those at admission, never here). ``-0.0`` becomes
    ``+0.0`` (see the module docstring).
    """
    out = np.empty((len(updates), base64.size), dtype=np.float64)
    for idx, u in enumerate(updates):
        d = np.asarray(u.delta)
        if d.shape != base64.shape:
            raise ValueError(f"update {idx}: shape {d.shape} != base shape {base64.shape}")
        row = out[idx]
        row[...] = d.reshape(-1)
        if not np.isfinite(row).all():
            raise ValueError(f"update {idx}: delta contains non-finite values")
    out += 0.0  # -0.0 + 0.0 == +0.0 under round-to-nearest
    return out


def accumulate(rows: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """``Σ_i w_i · rows[i]`` elementwise in float64, strictly in row order."""
    acc = np.zeros(rows.shape[1], dtype=np.float64)
    for row, w in zip(rows, weights, strict=True):
        if w != 0.0:
            acc += w * row
    return acc


def row_sums(t: np.ndarray) -> np.ndarray:
    """Sums along the last axis of a 2-D float64 array, in a fixed association order.

    Column block ``b`` of width 1024 is added onto a ``(rows, 1024)`` accumulator in
    increasing ``b`` (one elementwise add each), and the 1024 partial sums are then
    folded pairwise by halving. Every step is an elementwise IEEE operation with a fixed
    operand order, so the result is bit-identical on every machine and numpy build, at
    the speed of vectorised code. (``math.fsum`` per row would be correctly rounded but
    ~30 ms per 600k values; Krum needs ``n²/2`` such sums.)
    """
    rows, d = t.shape
    acc = np.zeros((rows, _BLOCK), dtype=np.float64)
    full = d - d % _BLOCK
    for s in range(0, full, _BLOCK):
        acc += t[:, s : s + _BLOCK]
    if full < d:
        acc[:, : d - full] += t[:, full:]
    width = _BLOCK
    while width > 1:
        width //= 2
        acc = acc[:, :width] + acc[:, width : 2 * width]
    return acc[:, 0].copy()


def row_norms(x: np.ndarray, center: np.ndarray | None = None) -> np.ndarray:
    """Euclidean norms ``‖x_i - center‖`` of the rows of ``x`` (deterministic, chunked)."""
    n, d = x.shape
    out = np.empty(n, dtype=np.float64)
    step = max(1, _CHUNK_VALUES // max(1, d))
    for s in range(0, n, step):
        block = x[s : s + step] if center is None else x[s : s + step] - center
        out[s : s + step] = np.sqrt(row_sums(block * block))
    return out


def finish(base64: np.ndarray, step: np.ndarray, server_lr: float) -> np.ndarray:
    """``base + server_lr · step`` cast to float32 once."""
    return (base64 + server_lr * step.reshape(base64.shape)).astype(np.float32)


# ---------------------------------------------------------------------- parameters


def float_param(
    name: str, value: Any, *, minimum: float | None = None, strict: bool = False
) -> float:
    """A finite float parameter, at least (or, ``strict``, above) ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return value


def int_param(name: str, value: Any, *, minimum: int = 0) -> int:
    """An integer parameter (an integral float such as ``2.0`` from the ledger is fine)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def accepted_params(factory: Any) -> list[str]:
    """The keyword parameters a rule's constructor accepts (for error messages)."""
    return [p for p in inspect.signature(factory).parameters if p != "self"]


class StackedRule:
    """The frame every rule that combines the round's stacked deltas shares: input checks,
    the empty round, one float64 stack, one float32 cast. Subclasses define
    :meth:`combine` over the stacked rows (and the updates behind them, in that order)."""

    #: leave out updates whose trust is 0 (see :func:`eligible`); rules that weigh by
    #: trust keep them and let the weight do the work
    skip_untrusted = True

    def aggregate(
        self, base: np.ndarray, updates: Sequence[WeightedUpdate], *, server_lr: float = 1.0
    ) -> np.ndarray:
        base64 = check_base(base, server_lr)
        if not updates:
            return base64.astype(np.float32)
        idx = eligible(updates) if self.skip_untrusted else list(range(len(updates)))
        x = stack(base64, updates)[idx]
        return finish(base64, self.combine(x, [updates[i] for i in idx]), server_lr)

    def combine(self, x: np.ndarray, updates: Sequence[WeightedUpdate]) -> np.ndarray:
        raise NotImplementedError
