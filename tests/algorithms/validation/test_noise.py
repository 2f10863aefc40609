"""The robust rule against an update's declared DP noise: thresholds, and honest vs poison
updates simulated with the mechanism's own noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flobc.algorithms.privacy import clip_and_noise
from flobc.algorithms.validation import DeclaredNoise
from flobc.algorithms.validation.noise import (
    cosine_z,
    gdp_power_bound,
    projection_floor,
    squared_norm_band,
    two_sample_power,
)
from flobc.algorithms.validation.robust import RobustRule

DIM = 4000
GAUSS = DeclaredNoise("gaussian", clip=1.0, noise_multiplier=1.8)


def test_declared_noise_refuses_unusable_parameters() -> None:
    with pytest.raises(ValueError, match="mechanism"):
        DeclaredNoise("laplace", 1.0, 1.0)
    with pytest.raises(ValueError, match="clip"):
        DeclaredNoise("gaussian", 0.0, 1.0)
    with pytest.raises(ValueError, match="noise_multiplier"):
        DeclaredNoise("dpsgd", 1.0, math.nan)


def test_thresholds_follow_the_declared_noise() -> None:
    assert projection_floor(GAUSS, 2.0) == pytest.approx(-3.6)
    lo, hi = squared_norm_band(GAUSS, DIM, 3.0)
    s2d = 1.8**2 * DIM
    sd = 1.8**2 * math.sqrt(2 * DIM) + 2 * 1.8
    assert lo == pytest.approx(s2d - 3 * sd) and hi == pytest.approx(1.0 + s2d + 3 * sd)
    assert cosine_z(0.02, 10_000) == pytest.approx(2.0) and cosine_z(0.5, 0) == 0.0
    # a larger σ hides a clipped update better: the best test's power falls towards α
    assert gdp_power_bound(1.8, 0.05) == pytest.approx(0.296, abs=1e-3)
    assert gdp_power_bound(11.5, 0.05) < 0.08 < gdp_power_bound(0.5, 0.05)


@pytest.mark.parametrize(
    ("shortfall", "votes", "references", "expected"),
    [
        (0.0, 1, 1, 0.02275),  # the level: Φ(-2)
        (0.0, 3, 1, 3 * 0.02275**2 - 2 * 0.02275**3),  # a majority of three votes
        (1.34, 3, 1, 0.058),  # digits ε = 2 label flips against the validators' steps
        (1.85, 1, 10**9, 0.440),  # μ known: Φ(1.85 - 2), the ceiling of one vote
        (5.0, 3, 1, 0.989),  # digits ε = 8 label flips
    ],
)
def test_two_sample_power(shortfall: float, votes: int, references: int, expected: float) -> None:
    assert two_sample_power(shortfall, 2.0, votes, references) == pytest.approx(expected, abs=1e-3)


def test_more_reference_steps_raise_the_power_not_the_level() -> None:
    level = [two_sample_power(0.0, 2.0, 3, k) for k in (1, 4, 100)]
    assert max(level) - min(level) < 1e-12
    power = [two_sample_power(1.85, 2.0, 3, k) for k in (1, 4, 100)]
    assert power == sorted(power) and power[0] < 0.2 < power[-1]
    with pytest.raises(ValueError):
        two_sample_power(1.0, 2.0, votes=0)


def _vote(delta: np.ndarray, ref: np.ndarray, **extra: float) -> dict[str, float]:
    d, r = delta.astype(np.float64), ref.astype(np.float64)
    nd, nr = float(np.linalg.norm(d)), float(np.linalg.norm(r))
    return {
        "loss_gain": extra.get("loss_gain", -0.5),  # the noise hurts; not tested for gaussian
        "loss_gain_se": 0.1,
        "cosine": float(d @ r / (nd * nr)) if nd and nr else 0.0,
        "reference_agreement": 0.5,
        "norm_ratio": extra.get("norm_ratio", nd / nr),
        "last_step_cosine": 0.0,
        "update_norm": nd,
        "dimension": float(d.size),
        "dp_cosine_z": extra.get("dp_cosine_z", 0.0),
        "dp_reference_cosine_z": extra.get("dp_reference_cosine_z", 0.0),
    }


def _honest_direction(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A trainer's clean step (norm 5) and a validator's reference agreeing at cos ≈ 0.5."""
    ref = rng.standard_normal(DIM)
    own = 0.5 * ref / np.linalg.norm(ref) + 0.87 * _unit(rng.standard_normal(DIM))
    return 5.0 * own / np.linalg.norm(own), ref


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_honest_gaussian_dp_updates_are_rejected_at_most_five_percent() -> None:
    rule, rng = RobustRule(), np.random.default_rng(0)
    rejected = 0
    for _ in range(400):
        clean, ref = _honest_direction(rng)
        sent = clip_and_noise(clean, GAUSS.clip, GAUSS.noise_multiplier, rng)
        rejected += not rule.decide([_vote(sent, ref)] * 3, GAUSS).accepted
        # the clean rule measures the noise: it rejects the same update
        assert not rule.decide([_vote(sent, ref)] * 3).accepted
    assert rejected / 400 <= 0.05


def test_gaussian_dp_cheats_are_caught() -> None:
    rule, rng = RobustRule(), np.random.default_rng(1)
    clean, ref = _honest_direction(rng)
    noised = clip_and_noise(clean, 1.0, 1.8, rng)
    cases = {
        "no noise": clean,  # claims DP, skips the noise
        "not clipped": clip_and_noise(clean * 40, 1e9, 1.8 / 1e9, rng),  # noise of C=1 only
        "boosted after noising": noised * 1.2,
        "sign flip injected after noising": noised - 20 * _unit(ref),
        "zero": np.zeros(DIM),
    }
    for name, sent in cases.items():
        d = rule.decide([_vote(sent, ref)] * 3, GAUSS)
        assert not d.accepted, name
    d = rule.decide([_vote(noised - 20 * _unit(ref), ref)] * 3, GAUSS)
    assert "direction against reference beyond the declared noise" in d.reason


#: Median measures of honest DP-SGD updates late in training: Fashion-MNIST, logreg
#: (d = 7850), ε = 8, rounds 10 to 30 (privacy_diagnosis dump); the clean rule and the
#: previous DP-SGD bar (cos ≥ z/√d unless t ≥ z) rejected each of them.
DPSGD = DeclaredNoise("dpsgd", 1.0, 1.0)
D = 7850.0
LATE = {
    "loss_gain": -0.0022,
    "loss_gain_se": 0.00045,
    "cosine": 0.0029,
    "reference_agreement": 0.53,
    "norm_ratio": 0.63,
    "last_step_cosine": 0.0,
    "update_norm": 1.63,
    "dimension": D,
    # an honest update and the validator's own DP step, two draws of N(μ, 1) at μ ≈ 0.5
    "dp_cosine_z": 0.3,
    "dp_reference_cosine_z": 0.9,
}
HONEST_LATE = {
    "noise costs loss, direction weak (t=-5, cos·√d=0.26)": {},
    "direction within the null's spread below 0": {"cosine": -0.0087, "loss_gain": -0.0001},
    "loss gain, direction hidden": {"cosine": 0.0089, "loss_gain": 0.0009},
    "ε = 1: pure noise, large loss cost": {"cosine": 0.0, "loss_gain": -0.02},
    "early round, strong signal": {"cosine": 0.33, "loss_gain": 0.03, "norm_ratio": 0.69},
}
POISONED = {
    "sign flip, early": ({"cosine": -0.34, "loss_gain": -0.4}, "direction against"),
    "sign flip, signal still visible": ({"cosine": -0.03}, "direction against"),
    "label flip": ({"cosine": -0.1, "loss_gain": 0.001, "norm_ratio": 1.5}, "against"),
    "scaled x10": ({"norm_ratio": 6.3, "update_norm": 16.3}, "too large"),
    "gaussian std 0.3": ({"norm_ratio": 16.0, "cosine": 0.0}, "too large"),
    "free ride (zero)": ({"norm_ratio": 0.0, "cosine": 0.0, "update_norm": 0.0}, "too small"),
    "copies the last global step": ({"last_step_cosine": 0.999}, "copies"),
}


@pytest.mark.parametrize("name", list(HONEST_LATE))
def test_honest_dpsgd_updates_late_in_training_pass(name: str) -> None:
    vote = {**LATE, **HONEST_LATE[name]}
    rule = RobustRule()
    d = rule.decide([vote] * 3, DPSGD)
    assert d.accepted, d.reason
    assert d.improvement == vote["loss_gain"]  # reputation still sees the loss


def test_the_previous_bars_rejected_honest_late_dpsgd_updates() -> None:
    # the clean rule (and the bar before) asked for evidence the noise hides
    assert not RobustRule().decide([LATE] * 3).accepted


@pytest.mark.parametrize("name", list(POISONED))
def test_poisoned_dpsgd_updates_fail(name: str) -> None:
    change, why = POISONED[name]
    d = RobustRule().decide([{**LATE, **change}] * 3, DPSGD)
    assert not d.accepted and why in d.reason, name


def test_dpsgd_direction_test_holds_its_level_whatever_the_noise() -> None:
    """Δ = weak honest signal + isotropic noise of any size: cos·√d stays at or above the
    null N(0, 1), so the direction test rejects at most Φ(-2) ≈ 2.3% of honest updates;
    a sign-flipped signal fails while it shows above the noise."""
    rule, rng = RobustRule(), np.random.default_rng(3)
    dim = 2000
    for noise_scale in (0.0, 1.0, 10.0, 100.0):
        rejected = flipped_passed = 0
        for _ in range(300):
            ref = rng.standard_normal(dim)
            signal = 0.5 * _unit(ref) + 0.87 * _unit(rng.standard_normal(dim))
            n = rng.standard_normal(dim) * noise_scale / math.sqrt(dim)
            honest = signal + n
            size = {"norm_ratio": 0.6}  # DP-SGD keeps the size of real work
            rejected += not rule.decide([_vote(honest, ref, **size)] * 3, DPSGD).accepted
            strong = -signal + n / max(1.0, noise_scale)  # the signal still shows
            flipped_passed += rule.decide([_vote(strong, ref, **size)] * 3, DPSGD).accepted
        assert rejected / 300 <= 0.05, noise_scale
        assert flipped_passed == 0, noise_scale


def test_paper_and_none_rules_ignore_the_noise() -> None:
    from flobc.algorithms.validation import rule_from_name

    v = {"score": 0.5, "base_score": 0.4}
    for name in ("paper", "none"):
        rule = rule_from_name(name)
        assert rule.decide([v] * 3, GAUSS) == rule.decide([v] * 3)


#: The three votes on a digits label-flip update at ε = 8 and on an honest one of the same
#: round (round 3; docs/results/privacy-quick-dpsgd/diagnosis/two-sample dump).
LABEL_FLIP_VOTES = [
    {
        "cosine": -0.005454,
        "dimension": 17258.0,
        "dp_cosine_z": -1.888331,
        "dp_reference_cosine_z": 5.69646,
        "last_step_cosine": 0.012248,
        "loss_gain": -0.002091,
        "loss_gain_se": 0.00159,
        "norm_ratio": 0.712332,
        "reference_agreement": 0.484457,
        "update_norm": 2.708672,
    },
    {
        "cosine": 0.002598,
        "dimension": 17258.0,
        "dp_cosine_z": -0.202848,
        "dp_reference_cosine_z": 2.753937,
        "last_step_cosine": 0.012248,
        "loss_gain": 0.000624,
        "loss_gain_se": 0.001595,
        "norm_ratio": 0.812817,
        "reference_agreement": 0.353908,
        "update_norm": 2.708672,
    },
    {
        "cosine": -0.007689,
        "dimension": 17258.0,
        "dp_cosine_z": -1.111371,
        "dp_reference_cosine_z": 2.047614,
        "last_step_cosine": 0.012248,
        "loss_gain": -0.002205,
        "loss_gain_se": 0.001741,
        "norm_ratio": 0.715881,
        "reference_agreement": 0.506034,
        "update_norm": 2.708672,
    },
]
HONEST_VOTES = [
    {
        "cosine": 0.0428,
        "dimension": 17258.0,
        "dp_cosine_z": 6.029922,
        "dp_reference_cosine_z": 5.69646,
        "last_step_cosine": 0.011615,
        "loss_gain": 0.006409,
        "loss_gain_se": 0.001429,
        "norm_ratio": 0.718903,
        "reference_agreement": 0.484457,
        "update_norm": 2.733661,
    },
    {
        "cosine": 0.03549,
        "dimension": 17258.0,
        "dp_cosine_z": 4.336814,
        "dp_reference_cosine_z": 2.753937,
        "last_step_cosine": 0.011615,
        "loss_gain": 0.00649,
        "loss_gain_se": 0.001367,
        "norm_ratio": 0.820316,
        "reference_agreement": 0.353908,
        "update_norm": 2.733661,
    },
    {
        "cosine": 0.038545,
        "dimension": 17258.0,
        "dp_cosine_z": 4.484256,
        "dp_reference_cosine_z": 2.047614,
        "last_step_cosine": 0.011615,
        "loss_gain": 0.004156,
        "loss_gain_se": 0.001162,
        "norm_ratio": 0.722486,
        "reference_agreement": 0.506034,
        "update_norm": 2.733661,
    },
]


def test_a_dpsgd_update_without_signal_fails_the_two_sample_test() -> None:
    """The former gap (:mod:`flobc.algorithms.validation.noise`): a label-flip update sits
    at the null of the direction statistic (cos·√d -0.72, +0.34, -1.01) and passed.
    Against each validator's clean step its cos·√d (-1.89, -0.20, -1.11) falls short of
    the validator's own DP step's (5.70, 2.75, 2.05): two-sample z -5.37, -2.09, -2.23,
    median below -2, rejected. The honest update of the same round passes."""
    noise = DeclaredNoise("dpsgd", 1.0, 1.434)
    d = RobustRule().decide(LABEL_FLIP_VOTES, noise)
    assert not d.accepted and d.reason.startswith("less signal than an honest step"), d.reason
    assert RobustRule().decide(HONEST_VOTES, noise).accepted
    # without the two samples (0, as in votes on other updates) it passed, as before
    blind = [{**v, "dp_cosine_z": 0.0, "dp_reference_cosine_z": 0.0} for v in LABEL_FLIP_VOTES]
    assert RobustRule().decide(blind, noise).accepted
    assert not RobustRule().decide(LABEL_FLIP_VOTES).accepted  # clean: direction below bar


@pytest.mark.parametrize(
    ("update_z", "reference_z", "rejected"),
    [
        (5.0, 5.0, False),  # honest: as much signal as the validator's own DP step
        (2.3, 5.0, False),  # (2.3 - 5)/√2 = -1.91: within the two samples' spread
        (2.0, 5.0, True),  # -2.12
        (-1.0, 3.0, True),  # no signal where honest work shows some (label flip)
        (0.0, 1.0, False),  # ε small: honest signal itself near the null, nothing to miss
        (9.0, 2.0, False),  # more signal than the validator's step: never a reason
        (-1.9, 0.0, False),  # near the null both: the direction test's business
    ],
)
def test_two_sample_test_table(update_z: float, reference_z: float, rejected: bool) -> None:
    vote = {**LATE, "dp_cosine_z": update_z, "dp_reference_cosine_z": reference_z}
    d = RobustRule().decide([vote] * 3, DPSGD)
    assert d.accepted is not rejected, d.reason
    assert ("less signal than an honest step" in d.reason) is rejected


def test_two_sample_test_takes_the_median_of_the_votes() -> None:
    """Each vote carries its own pair; a Byzantine minority cannot move the verdict."""
    honest = {**LATE, "dp_cosine_z": 4.0, "dp_reference_cosine_z": 4.5}
    condemn = {**LATE, "dp_cosine_z": -1e6, "dp_reference_cosine_z": 1e6}
    assert RobustRule().decide([honest, honest, condemn], DPSGD).accepted
    poison = {**LATE, "dp_cosine_z": -0.5, "dp_reference_cosine_z": 4.5}
    endorse = {**LATE, "dp_cosine_z": 1e6, "dp_reference_cosine_z": -1e6}
    assert not RobustRule().decide([poison, poison, endorse], DPSGD).accepted
    # per-vote statistics, then the median: -2.5, -0.35, -0.35 -> accepted
    mixed = [
        {**LATE, "dp_cosine_z": 1.0, "dp_reference_cosine_z": 1.0 + 2.5 * math.sqrt(2)},
        {**LATE, "dp_cosine_z": 3.0, "dp_reference_cosine_z": 3.5},
        {**LATE, "dp_cosine_z": 3.0, "dp_reference_cosine_z": 3.5},
    ]
    assert RobustRule().decide(mixed, DPSGD).accepted


def test_two_sample_measures_never_move_clean_or_gaussian_decisions() -> None:
    rng, rule = np.random.default_rng(5), RobustRule()
    for _ in range(50):
        clean, ref = _honest_direction(rng)
        sent = clip_and_noise(clean, GAUSS.clip, GAUSS.noise_multiplier, rng)
        for vec in (clean, sent, -clean, clean * 9):
            zero = _vote(vec, ref, loss_gain=float(rng.normal(0, 0.3)))
            for extreme in (-1e6, 1e6):
                moved = {**zero, "dp_cosine_z": extreme, "dp_reference_cosine_z": -extreme}
                for noise in (None, GAUSS):
                    assert rule.decide([moved] * 3, noise) == rule.decide([zero] * 3, noise)


def _dp_votes(
    rng: np.random.Generator, signal: float, honest_signal: float, dim: int = 2000
) -> list[dict[str, float]]:
    """Three validators' votes on a DP-SGD update carrying ``signal`` of the true direction
    g, each validator with its own clean step (g + its data's part) and its own DP step
    (``honest_signal``·g + its data's part + noise of norm 1, as the trainer's)."""
    g = _unit(rng.standard_normal(dim))

    def dp_step(a: float) -> np.ndarray:
        own = 0.3 * _unit(rng.standard_normal(dim))  # the data's own part
        return a * g + own + _unit(rng.standard_normal(dim))

    update = dp_step(signal)
    votes = []
    for _ in range(3):
        clean = g + 0.8 * _unit(rng.standard_normal(dim))
        votes.append(
            _vote(
                update,
                clean,
                norm_ratio=0.7,
                dp_cosine_z=cosine_z(_cos(update, clean), dim),
                dp_reference_cosine_z=cosine_z(_cos(dp_step(honest_signal), clean), dim),
            )
        )
    return votes


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("honest_signal", [0.0, 0.05, 0.15, 0.4])
def test_two_sample_test_holds_its_level_whatever_the_signal(honest_signal: float) -> None:
    """Honest updates fail at most ~Φ(-2) whether the noise hides the signal (0) or not
    (0.4: cos·√d ≈ 11); an update without signal fails once honest work shows some."""
    rule, rng = RobustRule(), np.random.default_rng(11)
    honest_rejected = flip_passed = 0
    for _ in range(300):
        honest_rejected += not rule.decide(
            _dp_votes(rng, honest_signal, honest_signal), DPSGD
        ).accepted
        flip_passed += rule.decide(_dp_votes(rng, 0.0, honest_signal), DPSGD).accepted
    assert honest_rejected / 300 <= 0.05
    if honest_signal >= 0.15:  # μ ≥ 4: the null is ≥ 2.8 spreads below
        assert flip_passed / 300 <= 0.1
