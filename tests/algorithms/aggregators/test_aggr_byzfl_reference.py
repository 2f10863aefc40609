"""Our rules against ByzFL's reference implementations (https://byzfl.epfl.ch).

Skipped unless ``byzfl`` is importable. It is no extra of ours: ByzFL 0.0.11 requires
torch 2.14 and torchvision, so installing it replaces the pinned CPU torch 2.13. Run this
file in a separate environment (``pip install byzfl`` there); it passed 48 cases against
ByzFL 0.0.11's ``aggregators.py``.
Where definitions differ, the data are chosen so both must give the same answer:

* ByzFL's Krum scores with the mean of the ``n - f - 1`` nearest, Blanchard et al. (ours)
  with the sum of the ``n - f - 2`` nearest: ours with ``f - 1`` ranks like ByzFL's with
  ``f`` (a mean is a scaled sum), so those are compared.
* ByzFL's geometric median starts from 0, ours from the mean; both converge to the same
  point with enough iterations.
"""

from __future__ import annotations

import numpy as np
import pytest
from aggr_helpers import ups

from flobc.algorithms.aggregators import aggregator_from_name

byzfl = pytest.importorskip("byzfl")


def _data(seed: int, n: int = 10, f: int = 3, d: int = 40) -> tuple[np.ndarray, int]:
    """``n`` updates: ``n - f`` honest around a common mean, ``f`` far-away attackers."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(d) + 0.3 * rng.standard_normal((n, d))).astype(np.float32)
    x[rng.choice(n, f, replace=False)] += np.float32(50.0) * rng.standard_normal(d).astype(
        np.float32
    )
    return x, f


def _ours(name: str, x: np.ndarray, **params: float) -> np.ndarray:
    return aggregator_from_name(name, **params).aggregate(np.zeros(x.shape[1], np.float32), ups(x))


def _theirs(rule: object, x: np.ndarray) -> np.ndarray:
    return np.asarray(rule(x.astype(np.float64)), dtype=np.float64)  # type: ignore[operator]


@pytest.mark.parametrize("seed", range(8))
def test_coordinatewise_rules_match_byzfl(seed: int) -> None:
    x, f = _data(seed)
    np.testing.assert_allclose(_ours("median", x), _theirs(byzfl.Median(), x), rtol=1e-6)
    for k in (1, f):
        ours = _ours("trimmed_mean", x, f=k)
        np.testing.assert_allclose(ours, _theirs(byzfl.TrMean(f=k), x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_krum_and_multi_krum_match_byzfl(seed: int) -> None:
    x, f = _data(seed)
    np.testing.assert_array_equal(_ours("krum", x, f=f - 1), _theirs(byzfl.Krum(f=f), x))
    ours = _ours("multi_krum", x, f=f - 1, m=len(x) - f)
    np.testing.assert_allclose(ours, _theirs(byzfl.MultiKrum(f=f), x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_geometric_median_matches_byzfl(seed: int) -> None:
    x, _ = _data(seed)
    ours = _ours("geometric_median", x, iterations=300, nu=1e-8)
    theirs = _theirs(byzfl.GeometricMedian(nu=1e-8, T=300), x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("tau", "iterations"), [(1.0, 1), (2.0, 3), (100.0, 2)])
def test_centered_clipping_matches_byzfl(seed: int, tau: float, iterations: int) -> None:
    x, _ = _data(seed)
    ours = _ours("centered_clipping", x, tau=tau, iterations=iterations)
    theirs = _theirs(byzfl.CenteredClipping(L=iterations, tau=tau), x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
