"""Differential privacy of trainer updates: the pure parts (no ML library, no Opacus).

Every update is public on the ledger, so the ledger is the adversary DP defends against and
DP is local to each trainer. The update-level **Gaussian mechanism** clips Δ to L2 norm C
and adds N(0, (σC)²) per coordinate; with sample rate 1 and one release per update it is
``1/(2σ²)``-zCDP, so its Rényi DP at order α is ``α · Σ 1/(2σ_i²)`` — a sum the ledger can
keep exactly and turn into ε with the same orders and conversion as Opacus's RDP accountant
(Balle et al. 2020, Thm. 21). That lets validators check a trainer's ε claim themselves.

A noisy update cannot be told from a noiseless one coordinate by coordinate, but its norm
can: ``‖clip(Δ) + σC·z‖`` lies, with overwhelming probability, in a narrow band around
``σC√d`` (Gaussian norm concentration: ``P(|‖z‖ - E‖z‖| ≥ t) ≤ 2·exp(-t²/2)``). A Δ above
the band was not clipped; one below it skipped the noise. :func:`norm_band` gives the band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

#: Opacus's ``RDPAccountant.DEFAULT_ALPHAS``: the ledger's ε agrees with the trainers'.
RDP_ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)))
#: Tail of the norm band in standard deviations of ‖z‖: an honest update falls outside with
#: probability ≤ 2·exp(-TAIL²/2) ≈ 2.5e-14.
TAIL = 8.0
#: Relative float slack on norm comparisons (float32 blobs, float64 sums).
FLOAT_SLACK = 1e-5


class PrivacyError(ValueError):
    """Privacy parameters that cannot be used, or a budget that is spent."""


class Mechanism(StrEnum):
    """Where the noise goes: on the whole update (``gaussian``, update-level) or on each
    clipped per-sample gradient inside local training (``dpsgd``)."""

    GAUSSIAN = "gaussian"
    DPSGD = "dpsgd"


#: every mechanism, in the order reports list them
MECHANISMS: tuple[Mechanism, ...] = tuple(Mechanism)


@dataclass(frozen=True)
class DPParams:
    """One trainer's DP parameters. ``noise_multiplier`` σ is relative to ``clip`` C."""

    mechanism: str  # "gaussian" (update level) | "dpsgd" (per-sample, in local training)
    clip: float
    noise_multiplier: float
    epsilon_budget: float
    delta: float

    def __post_init__(self) -> None:
        validate(self.epsilon_budget, self.delta, self.clip, self.noise_multiplier)
        if self.mechanism not in MECHANISMS:
            raise PrivacyError(f"unknown DP mechanism {self.mechanism!r}; use gaussian or dpsgd")


def validate(epsilon: float, delta: float, clip: float, noise_multiplier: float | None) -> None:
    """Raise :class:`PrivacyError` with a one-line message on unusable parameters."""
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise PrivacyError(f"privacy: epsilon_budget must be > 0 (got {epsilon})")
    if not 0 < delta < 1:
        raise PrivacyError(f"privacy: delta must be in (0, 1) (got {delta})")
    if not (math.isfinite(clip) and clip > 0):
        raise PrivacyError(f"privacy: clip must be > 0 (got {clip})")
    if noise_multiplier is not None and not (
        math.isfinite(noise_multiplier) and noise_multiplier > 0
    ):
        raise PrivacyError(f"privacy: noise_multiplier must be > 0 (got {noise_multiplier})")


def l2_norm(vec: np.ndarray) -> float:
    """Deterministic L2 norm: exactly rounded sum (``math.fsum``) of float64 squares.

    BLAS dot products may sum in any order; every validator must get the same bits.
    """
    v = np.asarray(vec, dtype=np.float64)
    return math.sqrt(math.fsum((v * v).tolist()))


def clip_and_noise(
    delta: np.ndarray, clip: float, noise_multiplier: float, rng: np.random.Generator
) -> np.ndarray:
    """The Gaussian mechanism: Δ scaled to norm ≤ ``clip``, plus N(0, (σ·clip)²) each."""
    d = np.asarray(delta, dtype=np.float64)
    norm = l2_norm(d)
    if norm > clip:
        d = d * (clip / norm)
    noise = rng.standard_normal(d.shape) * (noise_multiplier * clip)
    return (d + noise).astype(np.float32)


def dp_rng(seed: int, trainer: int, base_version: int, release: int) -> np.random.Generator:
    """The noise RNG of one release: per (run seed, trainer, round, release) so runs repeat
    exactly, and no two releases share noise (which would let differences cancel it)."""
    return np.random.default_rng([seed, 0x0D9, trainer, base_version, release])


def norm_band(
    clip: float, noise_multiplier: float, dim: int, tail: float = TAIL
) -> tuple[float, float]:
    """``(lo, hi)`` bounds on ‖clip(Δ) + σC·z‖ for z ~ N(0, I_dim), failing w.p. ≤ 2e^{-t²/2}.

    E‖z‖ lies in [√(d-1), √d]; the clipped part moves the norm by at most C.
    """
    s = noise_multiplier * clip
    lo = s * (math.sqrt(max(dim - 1, 0)) - tail) - clip
    hi = s * (math.sqrt(dim) + tail) + clip
    return max(lo, 0.0) * (1 - FLOAT_SLACK), hi * (1 + FLOAT_SLACK)


def zcdp_rho(noise_multiplier: float) -> float:
    """ρ of one Gaussian release (sensitivity C, noise σC): 1/(2σ²). Sums under composition."""
    return 1.0 / (2.0 * noise_multiplier * noise_multiplier)


def epsilon_from_rho(rho: float, delta: float, orders: tuple[float, ...] = RDP_ORDERS) -> float:
    """ε(δ) of RDP curve ``α ↦ α·ρ`` with Opacus's orders and conversion (pure Python)."""
    if rho <= 0:
        return 0.0
    best = math.inf
    for a in orders:
        eps = a * rho - (math.log(delta) + math.log(a)) / (a - 1) + math.log((a - 1) / a)
        best = min(best, eps)
    return best


def check_claim(
    *,
    mechanism: str,
    clip: float,
    noise_multiplier: float,
    epsilon: float,
    prev_epsilon: float,
    prev_rho: float,
    min_noise_multiplier: float,
    max_clip: float,
    epsilon_budget: float,
    delta: float,
) -> str | None:
    """Why a DP claim on an update is unacceptable to the network, or None.

    For the update-level Gaussian mechanism the ledger recomputes ε from σ and the
    trainer's earlier releases; a DP-SGD claim can only be checked for budget and order.
    """
    if mechanism not in MECHANISMS:
        return f"unknown DP mechanism {mechanism!r}"
    for name, v in (("clip", clip), ("noise_multiplier", noise_multiplier), ("epsilon", epsilon)):
        if not (math.isfinite(v) and v > 0):
            return f"DP {name} must be finite and > 0 (got {v})"
    if noise_multiplier < min_noise_multiplier:
        return (
            f"DP noise_multiplier {noise_multiplier} is below the network minimum"
            f" {min_noise_multiplier}"
        )
    if max_clip > 0 and clip > max_clip:
        return f"DP clip {clip} exceeds the network maximum {max_clip}"
    if epsilon <= prev_epsilon:
        return f"cumulative epsilon {epsilon} must grow past the {prev_epsilon} already spent"
    if epsilon > epsilon_budget * (1 + FLOAT_SLACK):
        return f"cumulative epsilon {epsilon:.4f} would exceed the budget {epsilon_budget}"
    if mechanism == Mechanism.GAUSSIAN:
        floor = epsilon_from_rho(prev_rho + zcdp_rho(noise_multiplier), delta)
        if epsilon < floor * (1 - 1e-6):
            return f"claimed cumulative epsilon {epsilon:.6f} is below the ledger's {floor:.6f}"
    return None


def check_norm(
    mechanism: str, clip: float, noise_multiplier: float, delta_vec: np.ndarray
) -> str | None:
    """Why a Gaussian-mechanism Δ's norm shows it was not clipped or not noised, or None."""
    if mechanism != "gaussian":
        return None
    norm = l2_norm(delta_vec)
    lo, hi = norm_band(clip, noise_multiplier, int(np.asarray(delta_vec).size))
    if norm > hi:
        return f"update norm {norm:.4g} exceeds clip {clip} plus its noise (bound {hi:.4g})"
    if norm < lo:
        return f"update norm {norm:.4g} is too small for noise multiplier {noise_multiplier}"
    return None
