"""The robust rule against an update's declared DP noise: thresholds, and honest vs poison
updates simulated with the mechanism's own noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flobc.algorithms.privacy import clip_and_noise
from flobc.algorithms.validation import DeclaredNoise
from flobc.algorithms.validation.noise import (
    gdp_power_bound,
    projection_floor,
    significant_cosine,
    squared_norm_band,
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
    assert significant_cosine(10_000, 2.0) == pytest.approx(0.02)
    # a larger σ hides a clipped update better: the best test's power falls towards α
    assert gdp_power_bound(1.8, 0.05) == pytest.approx(0.296, abs=1e-3)
    assert gdp_power_bound(11.5, 0.05) < 0.08 < gdp_power_bound(0.5, 0.05)


def _vote(delta: np.ndarray, ref: np.ndarray, **extra: float) -> dict[str, float]:
    d, r = delta.astype(np.float64), ref.astype(np.float64)
    nd, nr = float(np.linalg.norm(d)), float(np.linalg.norm(r))
    return {
        "loss_gain": extra.get("loss_gain", -0.5),  # the noise hurts; not tested for gaussian
        "loss_gain_se": 0.1,
        "cosine": float(d @ r / (nd * nr)) if nd and nr else 0.0,
        "reference_agreement": 0.5,
        "norm_ratio": nd / nr,
        "last_step_cosine": 0.0,
        "update_norm": nd,
        "dimension": float(d.size),
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


def test_dpsgd_bar_is_a_significance_test_on_the_direction() -> None:
    rule = RobustRule()
    noise = DeclaredNoise("dpsgd", 1.0, 1.1)
    base = {**_vote(np.ones(10_000), np.ones(10_000)), "norm_ratio": 0.8, "loss_gain": 0.01}
    base["loss_gain_se"] = 0.002
    # noise attenuated the cosine below the clean bar (0.05 x 0.9) but it is clearly
    # positive: 3 standard deviations of an independent direction (0.01 each)
    honest = {**base, "cosine": 0.03, "reference_agreement": 0.9}
    assert not rule.decide([honest] * 3).accepted
    assert rule.decide([honest] * 3, noise).accepted
    # at small ε the noise hides the direction, not the loss gain (t = 5 here)
    hidden = {**honest, "cosine": 0.008, "loss_gain": 0.01}
    assert rule.decide([hidden] * 3, noise).accepted
    assert not rule.decide([{**hidden, "loss_gain": 0.002}] * 3, noise).accepted
    for name, change in {
        "sign flip": {"cosine": -0.03, "loss_gain": -0.01},
        "unrelated direction": {"cosine": 0.005, "loss_gain": 0.0},
        "scaled": {"norm_ratio": 8.0},
        "zero": {"norm_ratio": 0.0, "cosine": 0.0},
        "harmful": {"loss_gain": -0.05},
    }.items():
        assert not rule.decide([{**honest, **change}] * 3, noise).accepted, name


def test_paper_and_none_rules_ignore_the_noise() -> None:
    from flobc.algorithms.validation import rule_from_name

    v = {"score": 0.5, "base_score": 0.4}
    for name in ("paper", "none"):
        rule = rule_from_name(name)
        assert rule.decide([v] * 3, GAUSS) == rule.decide([v] * 3)
