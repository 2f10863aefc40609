"""Validation rules: each of the robust rule's questions, the paper rule, the registry."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flobc.algorithms.validation import RULES, median, rule_from_name
from flobc.algorithms.validation.robust import RobustRule, t_statistic

HONEST = {
    "loss_gain": 0.002,
    "loss_gain_se": 0.004,
    "cosine": 0.4,
    "reference_agreement": 0.8,
    "norm_ratio": 1.2,
    "last_step_cosine": 0.3,
    "update_norm": 1.0,
    "dimension": 1000.0,
    "dp_cosine_z": 0.0,
    "dp_reference_cosine_z": 0.0,
}


def vote(**changes: float) -> dict[str, float]:
    return {**HONEST, **changes}


def test_registry_lists_every_rule_and_rejects_unknown_names() -> None:
    assert set(RULES) == {"paper", "robust", "none"}
    assert rule_from_name("Robust").name == "robust"
    with pytest.raises(ValueError, match="unknown validation rule 'krum'"):
        rule_from_name("krum")
    with pytest.raises(ValueError, match="robust"):
        rule_from_name("robust", zz=1.0)
    with pytest.raises(ValueError, match="min_norm_ratio"):
        rule_from_name("robust", min_norm_ratio=5.0, max_norm_ratio=3.0)
    with pytest.raises(ValueError, match="finite"):
        rule_from_name("paper", threshold=math.nan)


def test_honest_update_within_noise_is_accepted() -> None:
    # a small loss (t = -1.5) is within the validation slice's noise
    d = RobustRule().decide([vote(), vote(loss_gain=-0.006), vote()])
    assert d.accepted and d.reason == ""
    assert d.improvement == pytest.approx(0.002)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"loss_gain": -0.05, "loss_gain_se": 0.01}, "loss worse beyond noise"),
        ({"cosine": -0.6}, "direction disagrees"),
        ({"norm_ratio": 7.0}, "too large"),
        ({"norm_ratio": 0.0}, "too small"),
        ({"last_step_cosine": 0.999}, "copies the last global step"),
    ],
)
def test_each_question_rejects_on_its_own(changes: dict[str, float], why: str) -> None:
    d = RobustRule().decide([vote(**changes)] * 3)
    assert not d.accepted and why in d.reason


def test_a_byzantine_minority_cannot_flip_a_clear_verdict() -> None:
    rule = RobustRule()
    liar = vote(loss_gain=-1e300, loss_gain_se=1e-300, cosine=-1, norm_ratio=1e300)
    assert rule.decide([vote(), vote(), liar]).accepted
    poison = vote(cosine=-0.9)
    flatterer = vote(loss_gain=1.0, cosine=1.0)
    assert not rule.decide([poison, poison, flatterer]).accepted


def test_t_statistic_without_noise_uses_the_sign() -> None:
    assert t_statistic(0.0, 0.0) == 0.0
    assert t_statistic(0.1, 0.0) > 1e299
    assert t_statistic(-0.1, 0.0) < -1e299
    assert t_statistic(0.1, 0.05) == pytest.approx(2.0)
    assert t_statistic(math.nan, 0.0) < -1e299


def test_paper_rule_is_the_median_improvement_threshold() -> None:
    rule = rule_from_name("paper", threshold=0.0)
    votes = [{"score": s, "base_score": 0.8} for s in (0.9, 0.5, 0.85)]
    d = rule.decide(votes)
    assert d.accepted and d.improvement == pytest.approx(0.05)
    assert not rule_from_name("paper", threshold=0.1).decide(votes).accepted


def test_none_accepts_everything_without_measures() -> None:
    rule = rule_from_name("none")
    assert rule.measures == () and rule.decide([{}]).accepted


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=9))
def test_median_is_finite_and_within_the_clamped_range(values: list[float]) -> None:
    m = median(values)
    assert math.isfinite(m) and abs(m) <= 1e300


def test_the_direction_bar_follows_how_well_honest_steps_agree() -> None:
    rule = RobustRule(relative_cosine=0.1)  # the default 0.05 halves these bars
    weak = vote(cosine=0.05)
    assert not rule.decide([{**weak, "reference_agreement": 0.9}] * 3).accepted  # bar 0.09
    assert rule.decide([{**weak, "reference_agreement": 0.2}] * 3).accepted  # bar 0.02
