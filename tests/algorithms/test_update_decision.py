"""Update acceptance: median improvement over votes, threshold, BFT quorum."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flobc.algorithms.decision import MAX_ABS_IMPROVEMENT, Decision, decide, has_quorum


def test_odd_votes_use_middle_value() -> None:
    votes = [(0.90, 0.80), (0.50, 0.80), (0.85, 0.80)]  # diffs 0.10, -0.30, 0.05
    d = decide(votes, threshold=0.0)
    assert d == Decision(accepted=True, improvement=pytest.approx(0.05))


def test_even_votes_use_mean_of_two_middle_values() -> None:
    votes = [(0.5, 0.0), (0.1, 0.0), (0.3, 0.0), (-1.0, 0.0)]  # sorted -1, .1, .3, .5
    assert decide(votes, threshold=0.0).improvement == pytest.approx(0.2)


def test_threshold_is_inclusive() -> None:
    assert decide([(1.5, 1.0)], threshold=0.5).accepted
    assert not decide([(1.25, 1.0)], threshold=0.5).accepted


def test_negative_threshold_accepts_declines() -> None:
    d = decide([(0.7, 0.8)], threshold=-0.5)
    assert d.accepted and d.improvement == pytest.approx(-0.1)


def test_byzantine_minority_cannot_flip_median() -> None:
    honest = [(0.9, 0.8)] * 3
    hostile = [(float("inf"), 0.0), (float("nan"), 0.0)]
    assert decide(honest + hostile, threshold=0.05).improvement == pytest.approx(0.1)


def test_no_votes_is_not_accepted() -> None:
    assert decide([], threshold=-1.0) == Decision(False, 0.0)


def test_nan_threshold_accepts_nothing() -> None:
    assert not decide([(1.0, 0.0)], threshold=float("nan")).accepted


@given(
    st.lists(st.tuples(st.floats(), st.floats()), min_size=1, max_size=9),
    st.floats(allow_nan=False),
)
def test_improvement_always_finite_and_consistent(votes: list, threshold: float) -> None:
    d = decide(votes, threshold=threshold)
    assert math.isfinite(d.improvement)
    assert abs(d.improvement) <= MAX_ABS_IMPROVEMENT
    assert d.accepted == (d.improvement >= threshold)


@given(st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1)), min_size=1, max_size=9))
def test_median_is_order_independent(votes: list) -> None:
    assert decide(votes, threshold=0).improvement == decide(votes[::-1], threshold=0).improvement


@pytest.mark.parametrize(
    ("voters", "total", "ok"),
    [(3, 3, True), (2, 3, False), (3, 4, True), (7, 10, True), (6, 9, False), (0, 0, False)],
)
def test_has_quorum_strictly_more_than_two_thirds(voters: int, total: int, ok: bool) -> None:
    assert has_quorum(voters, total) is ok
