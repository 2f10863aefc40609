"""``robust``: the default validation rule — keep honest work, stop poison.

The paper's rule asks each update to raise accuracy on a validator's small slice by at
least 0. Measured on digits, that rejected 25 of 70 honest updates (at a plateau an
honest step shows no change, or a small loss from local overfitting) and let a -10x
sign-flipped update through while the model was at chance (accuracy cannot move yet).

This rule asks four questions, each answered by the median over the quorum's votes (so
up to f Byzantine validators cannot move any answer outside the honest range):

1. **Does it hurt?** Each validator evaluates base + s·Δ, where s is the weight the
   update will get in the aggregate (1/active trainers), and reports the mean per-sample
   loss gain and its paired standard error. The update fails if the t statistic
   gain/SE is below ``-z``: worse than the validation set's own sampling noise can
   explain. Loss moves even when accuracy cannot (a model at chance level).
2. **Does it point the right way?** Each validator trains its own reference step from
   the same base on its data (as FLTrust's server does) and reports cos(Δ, Δ_ref), and
   the agreement a of two such reference steps of its own. The update fails below
   ``max(min_cosine, relative_cosine x a)``: a random direction (cos ~ 0) fails while
   honest steps agree strongly, and the bar drops as the model nears a plateau and honest
   steps agree less. This stops sign flipping and label flipping.
3. **Is it the size of real work?** ‖Δ‖/‖Δ_ref‖ must lie in
   [``min_norm_ratio``, ``max_norm_ratio``]: scaled (boosted) updates are too large,
   zero or near-zero free-riding updates too small.
4. **Is it new?** cos(Δ, last global step) above ``max_last_step_cosine`` is a free
   rider resending the global model's own last step.

The improvement handed to reputation is the median loss gain (positive = helps).

An update whose trainer declared differential privacy is judged against its declared noise
instead (:mod:`.noise`): a projection and a χ² norm test for the Gaussian mechanism; for
DP-SGD, the direction against the null of an independent direction (it fails only when
significantly against the reference), a two-sample test against the validator's own DP-SGD
step at the declared noise (it fails when the update carries significantly less signal than
honest work at that noise), and the size, with no loss test. ``update_norm`` and
``dimension`` (‖Δ‖ and the model size) are what those tests need beyond the clean ones;
``dp_cosine_z`` and ``dp_reference_cosine_z`` (cos·√d of the update and of the validator's
DP step against a clean step on data the DP step did not see) are the two samples, 0 in
votes on other updates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from flobc.algorithms.validation.base import MAX_ABS_MEASURE, RuleDecision, Vote, median
from flobc.algorithms.validation.noise import (
    GAUSSIAN,
    DeclaredNoise,
    cosine_z,
    projection_floor,
    squared_norm_band,
)

#: Measures every vote carries under this rule (see the module docstring).
MEASURES = (
    "loss_gain",
    "loss_gain_se",
    "cosine",
    "reference_agreement",
    "norm_ratio",
    "last_step_cosine",
    "update_norm",
    "dimension",
    "dp_cosine_z",
    "dp_reference_cosine_z",
)


def t_statistic(gain: float, se: float) -> float:
    """gain / se; with no sampling noise (se = 0) only the sign of the gain counts."""
    if se > 0.0 and math.isfinite(se):
        return max(-MAX_ABS_MEASURE, min(MAX_ABS_MEASURE, gain / se))
    if gain == 0.0 or math.isnan(gain):
        return 0.0 if gain == 0.0 else -MAX_ABS_MEASURE
    return math.copysign(MAX_ABS_MEASURE, gain)


def signal_shortfall(vote: Vote) -> float:
    """One vote's two-sample statistic (update's cos·√d - its DP step's)/√2 (:mod:`.noise`)."""
    return (vote["dp_cosine_z"] - vote["dp_reference_cosine_z"]) / math.sqrt(2.0)


class RobustRule:
    """Loss test at the aggregation weight + agreement with a reference step."""

    name = "robust"
    measures = MEASURES

    def __init__(
        self,
        z: float = 2.0,
        min_cosine: float = 0.0,
        relative_cosine: float = 0.05,
        min_norm_ratio: float = 0.1,
        max_norm_ratio: float = 3.0,
        max_last_step_cosine: float = 0.99,
        noise_tail: float = 3.0,
    ) -> None:
        for label, value in (
            ("z", z),
            ("min_cosine", min_cosine),
            ("relative_cosine", relative_cosine),
            ("min_norm_ratio", min_norm_ratio),
            ("max_norm_ratio", max_norm_ratio),
            ("max_last_step_cosine", max_last_step_cosine),
            ("noise_tail", noise_tail),
        ):
            if not math.isfinite(value):
                raise ValueError(f"{label} must be finite, got {value!r}")
        if z < 0:
            raise ValueError(f"z must be >= 0, got {z!r}")
        if noise_tail < 0:
            raise ValueError(f"noise_tail must be >= 0, got {noise_tail!r}")
        if not -1.0 <= min_cosine <= 1.0 or not -1.0 <= max_last_step_cosine <= 1.0:
            raise ValueError("cosine bounds must lie in [-1, 1]")
        if not 0.0 <= min_norm_ratio < max_norm_ratio:
            raise ValueError(
                f"need 0 <= min_norm_ratio < max_norm_ratio, got {min_norm_ratio!r}, "
                f"{max_norm_ratio!r}"
            )
        self.z = float(z)
        self.min_cosine = float(min_cosine)
        if not 0.0 <= relative_cosine <= 1.0:
            raise ValueError(f"relative_cosine must lie in [0, 1], got {relative_cosine!r}")
        self.relative_cosine = float(relative_cosine)
        self.min_norm_ratio = float(min_norm_ratio)
        self.max_norm_ratio = float(max_norm_ratio)
        self.max_last_step_cosine = float(max_last_step_cosine)
        #: standard deviations of the χ² norm band of a Gaussian-mechanism update
        self.noise_tail = float(noise_tail)

    def __repr__(self) -> str:
        return (
            f"RobustRule(z={self.z!r}, min_cosine={self.min_cosine!r}, "
            f"relative_cosine={self.relative_cosine!r}, "
            f"min_norm_ratio={self.min_norm_ratio!r}, max_norm_ratio={self.max_norm_ratio!r}, "
            f"max_last_step_cosine={self.max_last_step_cosine!r}, "
            f"noise_tail={self.noise_tail!r})"
        )

    def decide(self, votes: Sequence[Vote], noise: DeclaredNoise | None = None) -> RuleDecision:
        """Accept or reject from the quorum's votes; ``noise`` is the update's declared DP."""
        if not votes:
            return RuleDecision(False, 0.0, "no votes")
        gain = median([v["loss_gain"] for v in votes])
        if noise is None:
            reasons = self._clean(votes)
        elif noise.mechanism == GAUSSIAN:
            reasons = self._gaussian(votes, noise)
        else:
            reasons = self._dpsgd(votes)
        last = median([v["last_step_cosine"] for v in votes])
        if last > self.max_last_step_cosine:
            reasons.append(f"copies the last global step (cos={last:.4g})")
        return RuleDecision(not reasons, gain, "; ".join(reasons))

    def _clean(self, votes: Sequence[Vote]) -> list[str]:
        """The four questions of the module docstring."""
        t = median([t_statistic(v["loss_gain"], v["loss_gain_se"]) for v in votes])
        cos = median([v["cosine"] for v in votes])
        bar = max(
            self.min_cosine,
            self.relative_cosine * median([v["reference_agreement"] for v in votes]),
        )
        reasons = []
        if t < -self.z:
            reasons.append(f"loss worse beyond noise (t={t:.3g} < -{self.z:g})")
        if cos < bar:
            reasons.append(f"direction disagrees with reference (cos={cos:.3g} < {bar:.3g})")
        return reasons + self._size(votes)

    def _size(self, votes: Sequence[Vote]) -> list[str]:
        """Question 3: the size of real work, as the reference step's."""
        ratio = median([v["norm_ratio"] for v in votes])
        reasons = []
        if ratio > self.max_norm_ratio:
            reasons.append(f"too large (norm ratio {ratio:.3g} > {self.max_norm_ratio:g})")
        if ratio < self.min_norm_ratio:
            reasons.append(f"too small (norm ratio {ratio:.3g} < {self.min_norm_ratio:g})")
        return reasons

    def _dpsgd(self, votes: Sequence[Vote]) -> list[str]:
        """DP-SGD: the direction against the null of an independent direction, the signal
        against an honest DP step's, and the size (:mod:`.noise`); no loss test (the
        declared noise biases it)."""
        zc = cosine_z(median([v["cosine"] for v in votes]), _dimension(votes))
        short = median([signal_shortfall(v) for v in votes])
        reasons = []
        if zc < -self.z:
            reasons.append(
                f"direction against reference beyond the noise (cos·√d={zc:.3g} < -{self.z:g})"
            )
        if short < -self.z:
            reasons.append(
                f"less signal than an honest step at the declared noise "
                f"(two-sample z={short:.3g} < -{self.z:g})"
            )
        return reasons + self._size(votes)

    def _gaussian(self, votes: Sequence[Vote], noise: DeclaredNoise) -> list[str]:
        """Projection and χ² norm tests against the declared Gaussian noise (no loss test)."""
        proj = median([v["cosine"] * v["update_norm"] for v in votes])
        floor = projection_floor(noise, self.z)
        norm = median([v["update_norm"] for v in votes])
        lo, hi = squared_norm_band(noise, _dimension(votes), self.noise_tail)
        reasons = []
        if proj < floor:
            reasons.append(
                f"direction against reference beyond the declared noise "
                f"(projection {proj:.3g} < {floor:.3g})"
            )
        if norm * norm > hi:
            reasons.append(
                f"too large for clip {noise.clip:g} plus noise (|Δ|² {norm * norm:.4g} > {hi:.4g})"
            )
        if norm * norm < lo:
            reasons.append(f"too small for the declared noise (|Δ|² {norm * norm:.4g} < {lo:.4g})")
        return reasons


def _dimension(votes: Sequence[Vote]) -> int:
    """The model size the quorum reports (the median: a Byzantine minority cannot move it)."""
    return max(0, int(median([v["dimension"] for v in votes])))
