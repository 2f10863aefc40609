"""ASP significance filter: relative magnitude ‖Δ‖/‖w‖, guards, skip counting."""

from __future__ import annotations

import math

import numpy as np

from flobc.algorithms.significance import (
    is_significant,
    l2_norm,
    partition_significant,
    relative_magnitude,
)


def test_relative_magnitude_hand_computed() -> None:
    base = np.array([3.0, 4.0], dtype=np.float32)  # ‖w‖ = 5
    delta = np.array([0.3, 0.4], dtype=np.float32)  # ‖Δ‖ = 0.5
    assert math.isclose(relative_magnitude(delta, base), 0.1, rel_tol=1e-6)
    assert is_significant(delta, base, 0.05)
    assert not is_significant(delta, base, 0.2)


def test_zero_base_and_zero_delta_guards() -> None:
    zero = np.zeros(3, dtype=np.float32)
    one = np.ones(3, dtype=np.float32)
    assert relative_magnitude(zero, zero) == 0.0
    assert relative_magnitude(one, zero) == math.inf
    assert is_significant(one, zero, 1e9)
    assert not is_significant(zero, one, 1e-12)
    assert is_significant(zero, one, 0.0)  # threshold 0: everything counts


def test_non_finite_is_never_significant() -> None:
    base = np.ones(2, dtype=np.float32)
    assert not is_significant(np.array([np.nan, 0.0], dtype=np.float32), base, 0.0)
    assert math.isnan(l2_norm(np.array([np.inf])))


def test_norm_is_deterministic_and_accurate() -> None:
    x = np.random.default_rng(3).standard_normal(100_000).astype(np.float32)
    assert l2_norm(x) == l2_norm(x.copy())
    assert math.isclose(l2_norm(x), float(np.linalg.norm(x.astype(np.float64))), rel_tol=1e-12)


def test_asp_skips_insignificant_updates_in_order() -> None:
    base = np.full(4, 10.0, dtype=np.float32)  # ‖w‖ = 20
    ups = [
        ("a", np.full(4, 1.0, dtype=np.float32)),  # 2/20 = 0.1
        ("b", np.full(4, 0.01, dtype=np.float32)),  # 0.001
        ("c", np.full(4, -0.5, dtype=np.float32)),  # 0.05
    ]
    kept, skipped = partition_significant(base, ups, 0.01)
    assert [k for k, _ in kept] == ["a", "c"] and skipped == 1
