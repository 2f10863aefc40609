"""Coordinate-wise median and trimmed mean against hand-computed values (Yin et al. 2018)."""

from __future__ import annotations

import numpy as np
import pytest
from aggr_helpers import f32, ups

from flobc.algorithms.aggregators import Median, TrimmedMean


def test_median_odd_count_is_the_middle_value_per_coordinate() -> None:
    out = Median().aggregate(f32(0.0, 0.0), ups([[1, 5], [3, -1], [2, 100]]))
    np.testing.assert_array_equal(out, f32(2.0, 5.0))


def test_median_even_count_is_the_mean_of_the_middle_two() -> None:
    rows = [[1, 0], [3, 4], [10, 2], [-5, 8]]  # sorted: (-5 1 3 10), (0 2 4 8)
    out = Median().aggregate(f32(1.0, 1.0), ups(rows), server_lr=0.5)
    np.testing.assert_array_equal(out, f32(1.0 + 0.5 * 2.0, 1.0 + 0.5 * 3.0))


def test_median_leaves_out_zero_trust_updates_unless_all_are_zero() -> None:
    rows = [[1.0], [2.0], [1000.0]]
    np.testing.assert_array_equal(Median().aggregate(f32(0), ups(rows, [0.5, 0.5, 0.0])), f32(1.5))
    np.testing.assert_array_equal(Median().aggregate(f32(0), ups(rows, [0.0] * 3)), f32(2.0))


def test_median_of_signed_zeros_is_positive_zero() -> None:
    out = Median().aggregate(f32(0.0), ups([[-0.0], [0.0], [-0.0], [0.0]]))
    assert out.tobytes() == f32(0.0).tobytes()


def test_trimmed_mean_by_count() -> None:
    rows = [[1, -100], [2, 7], [3, 1], [4, 2], [100, 3]]
    # column 0: drop 1 and 100 -> mean(2, 3, 4) = 3; column 1: drop -100 and 7 -> 2
    out = TrimmedMean(f=1).aggregate(f32(0, 0), ups(rows))
    np.testing.assert_array_equal(out, f32(3.0, 2.0))


@pytest.mark.parametrize(("beta", "expected"), [(0.2, 3.0), (0.1, 22.0), (0.4, 3.0), (0.0, 22.0)])
def test_trimmed_mean_by_fraction_trims_floor_beta_n(beta: float, expected: float) -> None:
    # n = 5: beta 0.2 -> k 1; 0.1 -> k 0 (plain mean 110/5); 0.4 -> k 2 (the median)
    out = TrimmedMean(beta=beta).aggregate(f32(0), ups([[1], [2], [3], [4], [100]]))
    np.testing.assert_array_equal(out, f32(expected))


def test_trimmed_mean_never_trims_everything() -> None:
    rule = TrimmedMean(f=5)
    assert [rule.trim(n) for n in (1, 2, 3, 4, 11, 12)] == [0, 0, 1, 1, 5, 5]
    np.testing.assert_array_equal(rule.aggregate(f32(0), ups([[1], [3]])), f32(2.0))
    np.testing.assert_array_equal(rule.aggregate(f32(0), ups([[1], [3], [50]])), f32(3.0))


def test_trimmed_mean_default_is_beta_one_tenth() -> None:
    rule = TrimmedMean()
    assert (rule.beta, rule.f, rule.trim(10), rule.trim(9)) == (0.1, None, 1, 0)
