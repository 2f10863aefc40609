"""Geometric median (smoothed Weiszfeld, RFA), centered clipping and norm clipping
against known solutions and hand-computed iterations."""

from __future__ import annotations

import numpy as np
import pytest
from aggr_helpers import f32, ups

from flobc.algorithms.aggregators import (
    CenteredClipping,
    FedAvg,
    GeometricMedian,
    Median,
    NormClipping,
)


def test_weiszfeld_finds_the_centre_of_symmetric_points() -> None:
    # A regular pentagon around c plus c itself: the geometric median is c (the unit
    # vectors from c to the vertices sum to zero), and Weiszfeld converges to it.
    c = np.array([2.0, -1.0])
    ang = 2 * np.pi * np.arange(5) / 5
    pts = [c + np.array([np.cos(a), np.sin(a)]) for a in ang] + [c]
    out = GeometricMedian(iterations=200).aggregate(f32(0, 0), ups(pts))
    np.testing.assert_allclose(out, c, atol=1e-4)
    # Trust as weights: with half the weight on c, c stays the weighted geometric median
    # (‖Σ w_i u_i‖ <= Σ w_i = 1/2), although the weighted mean moves towards vertex 0.
    trust = [0.25, 0.1, 0.05, 0.05, 0.05, 0.5]
    mean = FedAvg().aggregate(f32(0, 0), ups(pts, trust))
    assert np.linalg.norm(mean - c) > 0.1
    out = GeometricMedian(iterations=300, nu=1e-9).aggregate(f32(0, 0), ups(pts, trust))
    np.testing.assert_allclose(out, c, atol=1e-3)


def test_weiszfeld_reaches_an_obtuse_vertex() -> None:
    # Fermat point: with an angle >= 120° at a vertex, the geometric median is that vertex.
    pts = [[0.0, 0.0], [1.0, 0.0], [-1.0, 0.1]]
    out = GeometricMedian(iterations=500, nu=1e-9).aggregate(f32(0, 0), ups(pts))
    np.testing.assert_allclose(out, [0.0, 0.0], atol=1e-3)


def test_geometric_median_in_one_dimension_is_the_median() -> None:
    out = GeometricMedian(iterations=300, nu=1e-9).aggregate(f32(0), ups([[0], [1], [10]]))
    np.testing.assert_allclose(out, f32(1.0), atol=1e-3)


def test_trust_is_the_weight_of_the_geometric_median() -> None:
    rows = [[0.0], [1.0], [1.0]]
    out = GeometricMedian(iterations=300, nu=1e-9).aggregate(f32(0), ups(rows, [0.6, 0.2, 0.2]))
    np.testing.assert_allclose(out, f32(0.0), atol=1e-3)  # weight 0.6 > 1/2 wins


def test_zero_iterations_is_the_trust_weighted_mean() -> None:
    rows, trust = [[0.0], [4.0]], [0.75, 0.25]
    out = GeometricMedian(iterations=0).aggregate(f32(0), ups(rows, trust))
    assert out.tobytes() == FedAvg().aggregate(f32(0), ups(rows, trust)).tobytes()


def test_centered_clipping_by_hand() -> None:
    rows = [[0.5], [-0.5], [10.0]]
    # v1 = (0.5 - 0.5 + 1) / 3; v2 = v1 + ((0.5-v1) + (-0.5-v1) + 1) / 3
    v1 = 1.0 / 3.0
    v2 = v1 + ((0.5 - v1) + (-0.5 - v1) + 1.0) / 3.0
    for iterations, expected in ((1, v1), (2, v2)):
        out = CenteredClipping(tau=1.0, iterations=iterations).aggregate(f32(0), ups(rows))
        np.testing.assert_allclose(out, f32(expected), rtol=1e-6)


def test_centered_clipping_with_a_large_tau_is_the_mean() -> None:
    rows = [[1.0, 2.0], [3.0, -2.0], [2.0, 3.0]]
    out = CenteredClipping(tau=1e6, iterations=1).aggregate(f32(0, 0), ups(rows))
    np.testing.assert_allclose(out, f32(2.0, 1.0), rtol=1e-6)


def test_norm_clipping_scales_outliers_onto_multiplier_times_median_norm() -> None:
    rows = [[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, -100.0]]  # norms 1 2 3 100, median 2.5
    out = NormClipping(FedAvg(), 1.0).aggregate(f32(0, 0), ups(rows))
    expected = np.array([1.0 + 0.0 + 2.5 + 0.0, 0.0 + 2.0 + 0.0 - 2.5]) / 4
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    # a larger multiplier only clips the outlier
    out = NormClipping(FedAvg(), 10.0).aggregate(f32(0, 0), ups(rows))
    np.testing.assert_allclose(out, np.array([4.0, 2.0 - 25.0]) / 4, rtol=1e-6)


def test_norm_clipping_wraps_any_rule_and_keeps_trust() -> None:
    rows = [[1.0], [2.0], [300.0]]
    out = NormClipping(Median(), 1.0).aggregate(f32(0), ups(rows, [1.0, 1.0, 0.0]))
    np.testing.assert_array_equal(out, f32(1.5))  # clipped to 2, then excluded anyway


@pytest.mark.parametrize("rule", [GeometricMedian(), CenteredClipping(), Median()])
def test_all_zero_updates_stay_zero(rule: object) -> None:
    out = NormClipping(rule, 2.0).aggregate(f32(1, 2), ups([[0, 0], [0, 0]]))  # type: ignore[arg-type]
    np.testing.assert_array_equal(out, f32(1, 2))
