"""Adaptive sync period: nearest-rank percentile of submission delays, margin, bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flobc.algorithms.adaptive_period import nearest_rank_percentile, next_period


def test_nearest_rank_percentile() -> None:
    vals = [15, 20, 35, 40, 50]
    assert nearest_rank_percentile(vals, 30) == 20  # ceil(1.5) = 2nd
    assert nearest_rank_percentile(vals, 40) == 20  # exactly 2nd, no float drift
    assert nearest_rank_percentile(vals, 50) == 35
    assert nearest_rank_percentile(vals, 100) == 50
    assert nearest_rank_percentile(vals, 0.1) == 15
    with pytest.raises(ValueError):
        nearest_rank_percentile(vals, 0)
    with pytest.raises(ValueError):
        nearest_rank_percentile([], 50)


def test_follows_completion_times_with_margin() -> None:
    kw = {"percentile": 80.0, "min_ms": 1_000, "max_ms": 120_000, "current_ms": 60_000}
    fast = [4_000, 5_000, 5_500, 6_000, 30_000]  # one straggler beyond the 80th percentile
    assert next_period(fast, **kw) == 7_200  # 6000 * 1.2
    slow = [d * 3 for d in fast]
    assert next_period(slow, **kw) == 21_600
    assert next_period(fast, margin=1.0, **kw) == 6_000


def test_stays_within_bounds_and_keeps_current_without_data() -> None:
    kw = {"percentile": 90.0, "min_ms": 5_000, "max_ms": 20_000}
    assert next_period([10, 20], current_ms=8_000, **kw) == 5_000
    assert next_period([900_000], current_ms=8_000, **kw) == 20_000
    assert next_period([], current_ms=8_000, **kw) == 8_000
    assert next_period([], current_ms=1, **kw) == 5_000
    with pytest.raises(ValueError):
        next_period([1], percentile=50, min_ms=10, max_ms=5, current_ms=7)


@given(
    st.lists(st.integers(-10_000, 10**9), max_size=50),
    st.floats(0.5, 100.0),
    st.integers(1, 10**6),
    st.integers(0, 10**6),
    st.integers(1, 10**7),
)
def test_always_within_bounds_and_order_independent(
    delays: list[int], pct: float, lo: int, span: int, current: int
) -> None:
    hi = lo + span
    kw = {"percentile": pct, "min_ms": lo, "max_ms": hi, "current_ms": current}
    out = next_period(delays, **kw)
    assert isinstance(out, int) and lo <= out <= hi
    assert out == next_period(list(reversed(delays)), **kw)
