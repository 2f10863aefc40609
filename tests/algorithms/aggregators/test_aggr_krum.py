"""Krum and Multi-Krum (Blanchard et al. 2017) against hand-computed scores and a
brute-force reimplementation."""

from __future__ import annotations

import numpy as np
import pytest
from aggr_helpers import f32, ups

from flobc.algorithms.aggregators import Krum, MultiKrum
from flobc.algorithms.aggregators.krum import krum_scores, pairwise_sq_distances

# 1-D points: four honest, one attacker far away. n = 5, f = 1: 2 nearest neighbours.
POINTS = [[0.0], [0.1], [0.3], [1.0], [10.0]]


def test_scores_by_hand() -> None:
    x = np.array(POINTS, dtype=np.float64)
    scores = krum_scores(pairwise_sq_distances(x), f=1)
    expected = [0.01 + 0.09, 0.01 + 0.04, 0.04 + 0.09, 0.49 + 0.81, 81.0 + 9.7**2]
    np.testing.assert_allclose(scores, expected, rtol=1e-12)


def test_krum_picks_the_update_with_the_smallest_score() -> None:
    out = Krum(f=1).aggregate(f32(0.0), ups(POINTS))
    assert out.tobytes() == f32(0.1).tobytes()


def test_multi_krum_averages_the_m_best_weighted_by_trust() -> None:
    base = f32(0.0)
    np.testing.assert_allclose(MultiKrum(f=1, m=2).aggregate(base, ups(POINTS)), f32(0.05))
    # m = n - f = 4 by default: the attacker is the one left out
    np.testing.assert_allclose(MultiKrum(f=1).aggregate(base, ups(POINTS)), f32(1.4 / 4))
    # trust weights among the chosen {0.0, 0.1}: 1 : 3
    out = MultiKrum(f=1, m=2).aggregate(base, ups(POINTS, [1.0, 3.0, 1.0, 1.0, 1.0]))
    np.testing.assert_allclose(out, f32(0.075))


def test_equal_scores_are_broken_by_input_order() -> None:
    square = [[0, 0], [1, 0], [0, 1], [1, 1]]  # every score is the same
    out = Krum(f=0).aggregate(f32(0, 0), ups(square[::-1]))
    np.testing.assert_array_equal(out, f32(1, 1))


def test_zero_trust_updates_are_not_candidates() -> None:
    out = Krum(f=1).aggregate(f32(0.0), ups(POINTS, [1.0, 0.0, 1.0, 1.0, 1.0]))
    assert out.tobytes() == f32(0.0).tobytes()  # 0.1 excluded; 0.0 is then closest


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_small_rounds_still_aggregate(n: int) -> None:
    out = Krum(f=2).aggregate(f32(0.0), ups(POINTS[:n]))
    assert out[0] in f32(*[p[0] for p in POINTS[:n]])


def _brute_force_krum(x: np.ndarray, f: int) -> int:
    n = len(x)
    scores = []
    for i in range(n):
        d = sorted(float(np.sum((x[i] - x[j]) ** 2)) for j in range(n) if j != i)
        scores.append(sum(d[: n - f - 2]))
    return int(np.argmin(scores))


def test_krum_matches_a_brute_force_reimplementation() -> None:
    rng = np.random.default_rng(11)
    for trial in range(20):
        n, f = 9, 3
        x = rng.standard_normal((n, 50)).astype(np.float32)
        x[rng.choice(n, f, replace=False)] *= rng.uniform(0.5, 5.0)
        i = _brute_force_krum(x.astype(np.float64), f)
        out = Krum(f=f).aggregate(np.zeros(50, np.float32), ups(x))
        assert out.tobytes() == x[i].tobytes(), trial
