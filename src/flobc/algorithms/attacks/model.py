"""Model-poisoning attacks that transform the trainer's own honest update Δ.

* ``gaussian`` — Δ + N(0, std²) element-wise: the paper's Experiment 2 (§V), where trainer
  ``i`` of the reward-penalty experiment adds noise with std ``0.0545·i``.
* ``sign_flip`` — -scale·Δ (Damaskinos et al. 2018, "AggregaThor"; Allen-Zhu et al. 2020):
  ascends the loss the honest step descends.
* ``scaling`` — k·Δ; with ``boost`` k is the number of trainers, the model-replacement
  attack of Bagdasaryan et al. (AISTATS 2020, "How to backdoor federated learning"): under
  plain averaging of n updates, n·Δ replaces the global model by the attacker's.
* Free-riding (Fraboni et al., AISTATS 2021, "Free-rider attacks on model aggregation in
  federated learning"): ``free_ride_zero`` sends Δ = 0, ``free_ride_replay`` re-sends its
  own update from ``lag`` versions earlier, ``free_ride_global`` sends the global model's
  last step w_v - w_{v-1}, which looks like plausible progress without any data.
"""

from __future__ import annotations

import math

import numpy as np

from flobc.algorithms.attacks.base import AttackContext, ModelAttack


def _finite(name: str, value: float, *, positive: bool = False, nonneg: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if positive and v <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if nonneg and v < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def gaussian(std: float = 0.1) -> ModelAttack:
    """Δ + N(0, std²) element-wise (the paper's noisy trainers, Experiment 2)."""
    s = _finite("std", std, nonneg=True)

    def fn(ctx: AttackContext) -> np.ndarray:
        d = np.asarray(ctx.honest, dtype=np.float32)
        if s == 0:
            return d.copy()
        return (d + ctx.rng.normal(0.0, s, size=d.shape)).astype(np.float32)

    return ModelAttack("gaussian", fn, {"std": s})


def sign_flip(scale: float = 1.0) -> ModelAttack:
    """-scale·Δ."""
    k = _finite("scale", scale, positive=True)
    return ModelAttack(
        "sign_flip", lambda ctx: -k * np.asarray(ctx.honest, np.float64), {"scale": k}
    )


def scaling(factor: float = 10.0, boost: bool = False) -> ModelAttack:
    """factor·Δ, or (``boost``) number-of-trainers·Δ to replace the global model."""
    k = _finite("factor", factor)
    if not isinstance(boost, bool):
        raise ValueError(f"boost must be true or false, got {boost!r}")

    def fn(ctx: AttackContext) -> np.ndarray:
        return (ctx.num_trainers if boost else k) * np.asarray(ctx.honest, np.float64)

    return ModelAttack("scaling", fn, {"factor": k, "boost": boost})


def free_ride_zero() -> ModelAttack:
    """Δ = 0: takes the global model, contributes nothing."""
    return ModelAttack("free_ride_zero", lambda ctx: np.zeros_like(ctx.honest))


def free_ride_replay(lag: int = 1) -> ModelAttack:
    """The trainer's own honest update from ``lag`` versions earlier (the newest one at
    least ``lag`` versions old); Δ = 0 until one exists."""
    if isinstance(lag, bool) or not isinstance(lag, int) or lag < 1:
        raise ValueError(f"lag must be an integer >= 1, got {lag!r}")

    def fn(ctx: AttackContext) -> np.ndarray:
        old = [d for v, d in ctx.history if v <= ctx.version - lag]
        return np.array(old[-1], dtype=np.float32) if old else np.zeros_like(ctx.honest)

    return ModelAttack("free_ride_replay", fn, {"lag": lag})


def free_ride_global() -> ModelAttack:
    """The global model's last step w_v - w_{v-1}; Δ = 0 at version 0."""

    def fn(ctx: AttackContext) -> np.ndarray:
        if ctx.global_step is None:
            return np.zeros_like(ctx.honest)
        return np.asarray(ctx.global_step, dtype=np.float32)

    return ModelAttack("free_ride_global", fn, needs_global_step=True)
