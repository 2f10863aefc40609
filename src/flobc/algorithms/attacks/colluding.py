"""Colluding attacks: poison crafted from the honest updates of the same round.

Updates are public on the ledger, so attackers can read the round's honest Δs before
sending theirs. They add the colluders' own honest Δs (each colluder also trains honestly:
Shejwalkar & Houmansadr's "partial knowledge" setting), which is all they have while no
honest update of the round is visible yet, as in a BSP round where everyone trains at
once. The reference set is :meth:`AttackContext.reference`. Statistics are
coordinate-wise, in float64.

* ``alie`` — Baruch, Baruch & Goldberg (NeurIPS 2019), "A little is enough": μ - z·sd, with
  z_max from the number of workers n and attackers m: s = ⌊n/2 + 1⌋ - m,
  z = Φ⁻¹((n - s)/n). The shift stays inside the spread of honest updates, so median- and
  distance-based defences keep it, yet it consistently biases every coordinate.
* ``ipm`` — Xie, Koyejo & Gupta (UAI 2020), "Fall of empires": -ε·μ; a small ε makes the
  aggregate's inner product with the true gradient negative while staying close to it.
* ``min_max`` / ``min_sum`` — Shejwalkar & Houmansadr (NDSS 2021), "Manipulating the
  Byzantine": ∇m = μ + gamma·∇p with the perturbation ∇p = -μ/‖μ‖ (``unit_vec``), -sd
  (``std``) or -sign(μ) (``sign``), and the largest gamma, found by the paper's binary search,
  such that ∇m's maximum distance (min-max) or sum of squared distances (min-sum) to the
  honest updates is no larger than that of any honest update.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np

from flobc.algorithms.attacks.base import AttackContext, ModelAttack, stack

DIRECTIONS = ("unit_vec", "std", "sign")


def alie_z(n: int, m: int) -> float:
    """Baruch et al.'s z_max for n workers of which m are attackers.

    s = ⌊n/2 + 1⌋ - m is how many honest workers the attackers must still "win over";
    z_max = Φ⁻¹((n - s)/n). When m alone is a majority (s ≤ 0) the paper's value is
    infinite; we clamp s at 1 (z = Φ⁻¹((n - 1)/n)) to keep the poison finite.
    """
    if n < 1 or m < 0:
        raise ValueError(f"need n >= 1 and m >= 0, got n={n}, m={m}")
    s = max(math.floor(n / 2 + 1) - m, 1)
    p = (n - s) / n
    if p <= 0.0:
        return 0.0
    return NormalDist().inv_cdf(min(p, 1.0 - 1e-12))


def alie(z: float | None = None) -> ModelAttack:
    """μ - z·sd over the reference updates; z from :func:`alie_z` unless given."""
    if z is not None and not (isinstance(z, int | float) and math.isfinite(z)):
        raise ValueError(f"z must be a finite number, got {z!r}")

    def fn(ctx: AttackContext) -> np.ndarray:
        g = stack(ctx.reference())
        zz = alie_z(ctx.num_trainers, ctx.num_attackers) if z is None else float(z)
        return g.mean(axis=0) - zz * g.std(axis=0)

    return ModelAttack("alie", fn, {"z": z}, colluding=True)


def ipm(epsilon: float = 0.5) -> ModelAttack:
    """-ε·μ over the reference updates."""
    if not (isinstance(epsilon, int | float) and math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a number > 0, got {epsilon!r}")
    eps = float(epsilon)
    return ModelAttack(
        "ipm",
        lambda ctx: -eps * stack(ctx.reference()).mean(axis=0),
        {"epsilon": eps},
        colluding=True,
    )


def perturbation(g: np.ndarray, direction: str) -> np.ndarray:
    """Shejwalkar & Houmansadr's ∇p for honest updates ``g`` (one per row)."""
    mu = g.mean(axis=0)
    if direction == "unit_vec":
        norm = float(np.linalg.norm(mu))
        return -mu / norm if norm > 0 else np.zeros_like(mu)
    if direction == "std":
        return -g.std(axis=0)
    if direction == "sign":
        return -np.sign(mu)
    raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")


def pairwise_distances(g: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``g`` (exact row differences, float64)."""
    k = len(g)
    out = np.zeros((k, k))
    for i in range(k):
        out[i] = np.linalg.norm(g - g[i], axis=1)
    return out


def search_gamma(
    fits: Callable[[float], bool], gamma_init: float = 10.0, tol: float = 1e-5
) -> float:
    """The paper's binary search (Algorithm 1 of Shejwalkar & Houmansadr): the largest gamma
    found with ``fits(gamma)``, starting at ``gamma_init`` and halving the step; 0 if none."""
    gamma, step, good = gamma_init, gamma_init, 0.0
    for _ in range(200):
        if abs(good - gamma) <= tol:
            break
        if fits(gamma):
            good = gamma
            gamma += step / 2
        else:
            gamma -= step / 2
        step /= 2
    return good


def _optimised(name: str, direction: str, gamma_init: float, tol: float) -> ModelAttack:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    for key, val in (("gamma_init", gamma_init), ("tol", tol)):
        if not (isinstance(val, int | float) and math.isfinite(val) and val > 0):
            raise ValueError(f"{key} must be a number > 0, got {val!r}")

    def fn(ctx: AttackContext) -> np.ndarray:
        g = stack(ctx.reference())
        mu, p = g.mean(axis=0), perturbation(g, direction)
        d = pairwise_distances(g)
        if name == "min_max":
            bound = float(d.max())

            def fits(gamma: float) -> bool:
                return float(np.linalg.norm(g - (mu + gamma * p), axis=1).max()) <= bound
        else:
            bound = float((d**2).sum(axis=1).max())

            def fits(gamma: float) -> bool:
                return float((np.linalg.norm(g - (mu + gamma * p), axis=1) ** 2).sum()) <= bound

        return mu + search_gamma(fits, float(gamma_init), float(tol)) * p

    params = {"direction": direction, "gamma_init": float(gamma_init), "tol": float(tol)}
    return ModelAttack(name, fn, params, colluding=True)


def min_max(direction: str = "std", gamma_init: float = 10.0, tol: float = 1e-5) -> ModelAttack:
    """μ + gamma∇p with max_i ‖∇m - ∇i‖ ≤ max_{i,j} ‖∇i - ∇j‖."""
    return _optimised("min_max", direction, gamma_init, tol)


def min_sum(direction: str = "std", gamma_init: float = 10.0, tol: float = 1e-5) -> ModelAttack:
    """μ + gamma∇p with Σ_i ‖∇m - ∇i‖² ≤ max_i Σ_j ‖∇i - ∇j‖²."""
    return _optimised("min_sum", direction, gamma_init, tol)
