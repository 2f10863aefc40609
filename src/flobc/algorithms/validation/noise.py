"""What an update's declared differential privacy does to the robust rule's statistics.

A DP update is signal plus noise its trainer declared and signed with it (mechanism,
clip C, noise multiplier σ; the ledger checks the claim). The robust rule's bars are set
for clean updates; against a noised one they measure the noise. This module gives the
noise-aware replacements, all from the declared parameters and the vote's measures:

* ``gaussian`` (update level): Δ' = clip_C(Δ) + n, n ~ N(0, s² I_d), s = σC.

  - **direction**: the projection p = Δ'·u on the validator's unit reference direction u
    (independent of n) is N(clip(Δ)·u, s²). An honest update (clip(Δ)·u ≥ 0) falls below
    ``-z·s`` with probability at most Φ(-z); a large signal against the reference (a
    boosted sign flip the trainer injected after noising) falls far below.
  - **size**: ‖Δ'‖² = ‖clip(Δ)‖² + 2 clip(Δ)·n + ‖n‖² with ‖n‖² ~ s² χ²_d, so an honest
    value lies in [s²d - k·sd, C² + s²d + k·sd], sd = s²√(2d) + 2Cs. Above: not clipped
    or boosted after noising; below: the noise is missing.
  - **loss**: not tested. At the update's aggregation weight the declared noise alone
    raises the loss (t = -3 to -7 on digits at ε = 8 for honest updates), and no test can
    separate honest from poisoned clipped updates much better than chance: the mechanism
    is μ-GDP with μ = 2/σ between *any* two clipped inputs (Dong, Roth & Su 2019), so a
    test at level α has power at most Φ(2/σ - z_{1-α}) (0.30 at α = 0.05, σ = 1.8). That
    is the privacy guarantee itself; the clip bounds what a poisoned update can do.

* ``dpsgd`` (per-sample clipping and noise in local training): the noise in Δ depends on
  the trainer's learning rate, steps and optimizer, not on (C, σ) alone, but it is drawn
  independently of the validator's reference step r. So for any update,
  cos(Δ, r)·√d = (signal part) + N(0, ≈1): an honest update's value lies at or above the
  null of an independent direction, whatever its noise.

  - **direction**: fails below ``-z``, significantly *against* the reference (the
    Gaussian mechanism's projection floor, in units of the null's spread). An honest
    update falls there with probability at most Φ(-z), late in training or at ε = 1 alike.
    Asking instead for a cosine significantly *above* 0 (the bar before) rejects honest
    work as soon as the noise hides it: on Fashion-MNIST at ε = 8 (logreg, d = 7850),
    after round 10 honest cos·√d had median 1.6 and was below 2 for 61% of updates; that
    bar failed 59 of the run's 210 honest updates.
  - **loss**: not tested. The t statistic's standard error is the validation slice's
    sampling noise; it leaves out the update's own DP noise, whose curvature cost lowers
    the loss gain of every honest update by an amount the votes cannot size (it depends on
    lr, steps, optimizer and the loss surface): honest ε = 8 updates after round 10 on
    Fashion-MNIST had t = -5.5 to +6.6, below -2 for 21% of them (without DP: -2.7 to
    +6.1), and the loss test failed 30 of the run's 210 honest updates. On
    Fashion-MNIST the poison shows in the direction: label flipping at cos·√d -5 to -40,
    sign flipping below -2 through round 14 at ε = 8 (and in some later rounds).
    A sign-flipped update whose signal the noise hides (|cos·√d| < 2) carries no more of
    it than an honest one, and the norm band bounds its size.
  - **signal** (two-sample test): an update with *no* signal sits at the null on both
    statistics and passes the direction test (digits, small-cnn, d = 17258, ε = 8:
    label-flip cos·√d -1.7 to +2.3 where honest work shows 3.3 to 8.4), and asking for
    evidence of work at a fixed level (cos·√d ≥ z) fails late honest Fashion-MNIST
    updates, whose signal the noise hides as fully. What separates them is the cos·√d
    an honest step shows *at the declared noise*: each validator trains its own DP-SGD
    step from the base at the declared (C, σ), the network's batch, lr and optimizer and
    the update's steps, and votes ``dp_reference_cosine_z``, its cos·√d against a clean
    step, with ``dp_cosine_z``, the update's against the same clean step (the DP step
    trains on one half of the validator's slice, the clean step on the other, so the
    clean step saw neither the DP step's data nor a trainer's). Two honest DP steps'
    values are draws of N(μ, ≈1) for the same μ, whatever signal survives the noise, so
    the rule fails an update when the median over votes of
    (``dp_cosine_z`` - ``dp_reference_cosine_z``)/√2 is below ``-z``: level Φ(-z) ≈ 2.3%
    at z = 2 for one vote, less for the median of a quorum's (each validator draws its own
    step). Measured at digits ε = 8: honest 0/56 (0/40 beside label flippers) rejected,
    label flips 16/16 (docs/results/privacy-quick-dpsgd/diagnosis).

    The validator's step is a fair twin only with a trainer's noise *per step*: DP-SGD
    divides the noisy sum by the expected batch B, so the noise on a step's mean gradient
    is σC/B. A half slice smaller than B (47 images against B = 64 on the digits preset)
    used to take all n records per step and divide by n: σC/n, 36% more noise than a
    trainer's, a lower cos·√d and a test more lenient than Φ(-z). The step now samples
    with replacement there: each record's multiplicity is Poisson(B/n), so the batch has
    Poisson(B) records, as a trainer's Binomial(n_t, B/n_t) has for n_t ≫ B, and the sum
    is divided by B. That matches both parts of a trainer's step: the noise σC/B and the
    batch's sampling spread (about B·E[ggᵀ] on the clipped sum). Scaling the noise alone
    to σC/B while averaging all n records would drop the sampling spread, so the twin's
    step would carry *more* signal than a trainer's and reject honest updates above
    Φ(-z). The twin is not private (a record may enter a step twice), which it need not
    be: it is never released. With n ≥ B (Fashion-MNIST: 2,000 against 512) nothing
    changes. What remains conservative is the data: half a slice is fewer records than a
    trainer's, so more of the twin's step is its own records' direction, which the clean
    step on the other half does not share. The level is exceeded for trainers with fewer
    records than B (their step takes all of them, with more noise) and for non-IID
    trainers whose honest signal is weaker than the validator's, as with the clean
    direction test. Where honest signal itself is within the two samples' spread of the
    null, little can be caught (ε = 2 on digits: label flips 4 of 16, sign flips 8 of 16;
    :func:`two_sample_power` predicts 0.18 and 0.51, and even a test knowing the honest
    mean could reach only 0.39 and 0.88).
  - **size**: Δ keeps the size of real work (norm ratio 0.6 to 0.8), so the norm-ratio
    band stays: scaled, Gaussian-noised and zero updates fail it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flobc.algorithms.privacy import MECHANISMS, Mechanism

#: Mechanisms a claim may name (as :class:`flobc.algorithms.privacy.DPParams`).
GAUSSIAN, DPSGD = Mechanism.GAUSSIAN, Mechanism.DPSGD


@dataclass(frozen=True, slots=True)
class DeclaredNoise:
    """The differential privacy an update's trainer declared and signed."""

    mechanism: str  # "gaussian" | "dpsgd"
    clip: float  # C
    noise_multiplier: float  # σ: the noise std is σ·C

    def __post_init__(self) -> None:
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"unknown DP mechanism {self.mechanism!r}")
        for name in ("clip", "noise_multiplier"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be finite and > 0, got {v!r}")

    @property
    def std(self) -> float:
        """s = σC, the per-coordinate noise std of the Gaussian mechanism."""
        return self.noise_multiplier * self.clip


def projection_floor(noise: DeclaredNoise, z: float) -> float:
    """Gaussian mechanism: the projection on the reference below which an update fails."""
    return -z * noise.std


def squared_norm_band(noise: DeclaredNoise, dim: int, k: float) -> tuple[float, float]:
    """Gaussian mechanism: ``(lo, hi)`` for an honest ‖Δ'‖² at ``k`` standard deviations."""
    s, c = noise.std, noise.clip
    sd = s * s * math.sqrt(2.0 * dim) + 2.0 * c * s
    mean_noise = s * s * dim
    return max(0.0, mean_noise - k * sd), c * c + mean_noise + k * sd


def cosine_z(cos: float, dim: int) -> float:
    """cos·√d: a cosine in standard deviations of the null of an independent direction
    (N(0, 1) for a d-dimensional isotropic one); 0 when the dimension is unknown."""
    return cos * math.sqrt(dim) if dim > 0 else 0.0


def gdp_power_bound(noise_multiplier: float, alpha: float) -> float:
    """Largest power of any level-``alpha`` test between two clipped inputs of one
    Gaussian-mechanism release (μ-GDP, μ = 2/σ): Φ(μ - Φ⁻¹(1 - α))."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    mu = 2.0 / noise_multiplier
    return _phi(mu - _phi_inv(1.0 - alpha))


def two_sample_power(shortfall: float, z: float, votes: int = 3, references: int = 1) -> float:
    """Chance that the DP-SGD two-sample test rejects an update whose cos·√d is, in mean,
    ``shortfall`` below an honest step's (0: an honest update, the level).

    Each vote's statistic is (Z_u - Z̄_r)/√(1 + 1/k), Z_u ~ N(μ - shortfall, 1) the
    update's and Z̄_r the mean of ``references`` = k twin steps' N(μ, 1): a vote fails
    with p = Φ(shortfall/√(1 + 1/k) - z), and the rule fails the update when the median of
    ``votes`` fails (at least a majority, taken as independent). k = 1 is the rule as
    built; k → ∞ (μ known) is the ceiling of any one-sided test on cos·√d at level Φ(-z).
    """
    if votes < 1 or references < 1:
        raise ValueError("votes and references must be >= 1")
    p = _phi(shortfall / math.sqrt(1.0 + 1.0 / references) - z)
    need = votes // 2 + 1
    return sum(
        math.comb(votes, j) * p**j * (1.0 - p) ** (votes - j) for j in range(need, votes + 1)
    )


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _phi_inv(p: float) -> float:
    """Φ⁻¹ by bisection (pure Python, deterministic; used only in reports and tests)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if _phi(mid) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0
