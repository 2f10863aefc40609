"""Trust-weighted FedAvg: hand-computed values, determinism, convexity, edge cases."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flobc.algorithms.aggregation import (
    WeightedUpdate,
    aggregate,
    aggregate_plain_fedavg,
    aggregation_weights,
)


def f32(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=np.float32)


def test_hand_computed_trust_weighted_average() -> None:
    base = f32(1.0, 2.0)
    ups = [WeightedUpdate(f32(1.0, 0.0), 0.75, 10), WeightedUpdate(f32(-1.0, 4.0), 0.25, 30)]
    # 0.75*(1,0) + 0.25*(-1,4) = (0.5, 1.0)
    np.testing.assert_array_equal(aggregate(base, ups), f32(1.5, 3.0))
    # server_lr scales the step: base + 2*(0.5, 1)
    np.testing.assert_array_equal(aggregate(base, ups, server_lr=2.0), f32(2.0, 4.0))
    # weight_by_samples: ω = (7.5, 7.5) → equal → (0, 2)
    np.testing.assert_array_equal(aggregate(base, ups, weight_by_samples=True), f32(1.0, 4.0))


def test_trust_is_normalised_over_accepted_updates_only() -> None:
    base = f32(0.0)
    ups = [WeightedUpdate(f32(3.0), 0.1), WeightedUpdate(f32(6.0), 0.2)]
    np.testing.assert_array_equal(aggregate(base, ups), f32(5.0))  # (0.3 + 1.2) / 0.3


def test_plain_fedavg_uses_sample_counts_and_ignores_trust() -> None:
    base = f32(0.0, 0.0)
    ups = [WeightedUpdate(f32(4.0, 0.0), 0.0, 1), WeightedUpdate(f32(0.0, 4.0), 1.0, 3)]
    np.testing.assert_array_equal(aggregate_plain_fedavg(base, ups), f32(1.0, 3.0))


def test_no_updates_returns_unchanged_copy() -> None:
    base = f32(1.0, -2.0)
    out = aggregate(base, [])
    np.testing.assert_array_equal(out, base)
    assert out is not base and out.dtype == np.float32
    out[0] = 9.0
    assert base[0] == 1.0


@pytest.mark.parametrize("trusts", [(0.0, 0.0), (float("nan"), -1.0), (float("inf"), 0.0)])
def test_unusable_trusts_fall_back_to_equal_weights(trusts: tuple[float, float]) -> None:
    ups = [WeightedUpdate(f32(2.0), trusts[0]), WeightedUpdate(f32(4.0), trusts[1])]
    out = aggregate(f32(0.0), ups)
    np.testing.assert_array_equal(out, f32(3.0))
    assert aggregation_weights(ups) == [0.5, 0.5]


def test_zero_trust_update_has_no_effect_when_others_trusted() -> None:
    ups = [WeightedUpdate(f32(100.0), 0.0), WeightedUpdate(f32(1.0), 0.3)]
    np.testing.assert_array_equal(aggregate(f32(0.0), ups), f32(1.0))


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="shape"):
        aggregate(f32(0.0, 0.0), [WeightedUpdate(f32(1.0), 1.0)])
    with pytest.raises(ValueError, match="non-finite"):
        aggregate(f32(0.0), [WeightedUpdate(f32(float("nan")), 1.0)])
    with pytest.raises(ValueError, match="server_lr"):
        aggregate(f32(0.0), [WeightedUpdate(f32(1.0), 1.0)], server_lr=float("inf"))


def test_bytes_identical_across_calls_and_order_matters_only_via_caller() -> None:
    rng = np.random.default_rng(7)
    base = rng.standard_normal(10_000).astype(np.float32)
    ups = [
        WeightedUpdate(rng.standard_normal(10_000).astype(np.float32) * 1e-3, t, 100)
        for t in (0.1, 0.2, 0.3, 0.4)
    ]
    digests = {hashlib.sha256(aggregate(base, ups).tobytes()).hexdigest() for _ in range(5)}
    assert len(digests) == 1
    assert aggregate(base, ups).dtype == np.float32


def test_output_is_float32_for_float64_input() -> None:
    out = aggregate(np.zeros(3), [WeightedUpdate(np.ones(3), 1.0)])
    assert out.dtype == np.float32


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    dim=st.integers(1, 8),
    n=st.integers(1, 6),
)
def test_result_is_convex_combination(data: st.DataObject, dim: int, n: int) -> None:
    base = np.array(data.draw(st.lists(finite, min_size=dim, max_size=dim)), dtype=np.float32)
    deltas = [
        np.array(data.draw(st.lists(finite, min_size=dim, max_size=dim)), dtype=np.float32)
        for _ in range(n)
    ]
    trusts = data.draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    ups = [WeightedUpdate(d, t) for d, t in zip(deltas, trusts, strict=True)]
    out = aggregate(base, ups).astype(np.float64)
    cands = np.stack([base.astype(np.float64) + d.astype(np.float64) for d in deltas])
    tol = 1e-6 * (np.abs(cands).max(axis=0) + 1.0)
    assert np.all(out >= cands.min(axis=0) - tol)
    assert np.all(out <= cands.max(axis=0) + tol)
    assert np.isfinite(out).all()
    w = aggregation_weights(ups)
    assert abs(sum(w) - 1.0) < 1e-12 and all(x >= 0 for x in w)
