"""Property tests of every rule: permutation invariance, determinism to the byte across
memory layouts, and staying within the honest range under a minority of attackers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from aggr_helpers import ups
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from flobc.algorithms.aggregators import AGGREGATORS, WeightedUpdate, aggregator_from_name
from flobc.algorithms.aggregators.base import eligible, row_sums
from flobc.algorithms.aggregators.krum import krum_scores, pairwise_sq_distances

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)
ELEMS = st.floats(-10.0, 10.0, width=32, allow_subnormal=False)


def matrices(min_n: int = 1, max_n: int = 9, max_d: int = 12) -> st.SearchStrategy[np.ndarray]:
    shape = st.tuples(st.integers(min_n, max_n), st.integers(1, max_d))
    return hnp.arrays(np.float32, shape, elements=ELEMS)


trusts = st.lists(st.floats(0.0, 1.0), min_size=9, max_size=9)
# Rules whose result is symmetric in the updates to the byte (sorted sums / a selection).
EXACTLY_SYMMETRIC = [("median", {}, 0.0), ("trimmed_mean", {"f": 1}, 0.0), ("median", {}, 1.5)]
# Symmetric in exact arithmetic; the canonical order fixes the last bits.
SYMMETRIC = [
    ("fedavg", {}),
    ("multi_krum", {"f": 1}),
    ("geometric_median", {}),
    ("centered_clipping", {}),
]


@pytest.mark.parametrize(("name", "params", "clip"), EXACTLY_SYMMETRIC)
@SETTINGS
@given(x=matrices(), t=trusts, seed=st.integers(0, 2**32 - 1))
def test_coordinatewise_rules_are_permutation_invariant_to_the_byte(
    name: str, params: dict, clip: float, x: np.ndarray, t: list[float], seed: int
) -> None:
    rule = aggregator_from_name(name, clip_multiplier=clip, **params)
    base = np.zeros(x.shape[1], np.float32)
    perm = np.random.default_rng(seed).permutation(len(x))
    trust = t[: len(x)]
    a = rule.aggregate(base, ups(x, trust))
    b = rule.aggregate(base, ups(x[perm], [trust[i] for i in perm]))
    assert a.tobytes() == b.tobytes()


@SETTINGS
@given(x=matrices(min_n=2), seed=st.integers(0, 2**32 - 1))
def test_krum_is_permutation_invariant_up_to_ties(x: np.ndarray, seed: int) -> None:
    scores = krum_scores(pairwise_sq_distances(x.astype(np.float64) + 0.0), f=1)
    winners = {(x[i] + np.float32(0.0)).tobytes() for i, s in enumerate(scores) if s == min(scores)}
    rule = aggregator_from_name("krum", f=1)
    base = np.zeros(x.shape[1], np.float32)
    perm = np.random.default_rng(seed).permutation(len(x))
    a = rule.aggregate(base, ups(x)).tobytes()
    b = rule.aggregate(base, ups(x[perm])).tobytes()
    assert a in winners and b in winners
    if len(winners) == 1:
        assert a == b


@pytest.mark.parametrize(("name", "params"), SYMMETRIC)
@SETTINGS
@given(x=matrices(), t=trusts, seed=st.integers(0, 2**32 - 1))
def test_averaging_rules_are_permutation_invariant_up_to_rounding(
    name: str, params: dict, x: np.ndarray, t: list[float], seed: int
) -> None:
    trust = t[: len(x)]
    if name == "multi_krum":  # a tie at the selection boundary may pick another update
        # among the updates the rule considers: zero-trust ones are left out (eligible)
        rows = x[eligible(ups(x, trust))]
        scores = sorted(krum_scores(pairwise_sq_distances(rows.astype(np.float64)), f=1))
        m = max(1, len(rows) - 1)
        assume(m == len(rows) or scores[m - 1] != scores[m])
    rule = aggregator_from_name(name, **params)
    base = np.zeros(x.shape[1], np.float32)
    perm = np.random.default_rng(seed).permutation(len(x))
    a = rule.aggregate(base, ups(x, trust))
    b = rule.aggregate(base, ups(x[perm], [trust[i] for i in perm]))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _layouts(x: np.ndarray) -> list[list[np.ndarray]]:
    """The same rows as contiguous, strided, big-endian and 2-D Fortran-sliced arrays."""
    wide = np.zeros((len(x), 2 * x.shape[1]), np.float32)
    wide[:, ::2] = x
    fortran = np.asfortranarray(np.repeat(x[:, :, None], 2, axis=2))
    ro = x.copy()
    ro.setflags(write=False)
    return [
        [r.copy() for r in x],
        [wide[i, ::2] for i in range(len(x))],
        [r.astype(">f4") for r in x],
        [fortran[i, :, 1] for i in range(len(x))],
        list(ro),
    ]


@pytest.mark.parametrize("name", sorted(AGGREGATORS))
@pytest.mark.parametrize("clip", [0.0, 2.0])
@SETTINGS
@given(x=matrices(), t=trusts, lr=st.floats(0.1, 2.0))
def test_every_rule_is_deterministic_to_the_byte_across_layouts(
    name: str, clip: float, x: np.ndarray, t: list[float], lr: float
) -> None:
    rule = aggregator_from_name(name, clip_multiplier=clip)
    base = np.linspace(-1, 1, x.shape[1]).astype(np.float32)
    results = set()
    for rows in _layouts(x):
        updates = [WeightedUpdate(r, t[i], 3) for i, r in enumerate(rows)]
        out = rule.aggregate(base, updates, server_lr=lr)
        assert out.dtype == np.float32 and out.shape == base.shape
        results.add(out.tobytes())
        results.add(rule.aggregate(base.copy(), updates, server_lr=lr).tobytes())
    assert len(results) == 1


def _honest_and_attackers(
    draw: st.DrawFn, attacker_elems: st.SearchStrategy[float], min_honest: int, attackers: int
) -> tuple[np.ndarray, np.ndarray]:
    d = draw(st.integers(1, 8))
    n_h = draw(st.integers(min_honest, 9))
    honest = draw(hnp.arrays(np.float32, (n_h, d), elements=ELEMS))
    bad = draw(hnp.arrays(np.float32, (attackers, d), elements=attacker_elems))
    return honest, bad


def _within_honest_range(out: np.ndarray, honest: np.ndarray) -> bool:
    return bool(np.all(out >= honest.min(axis=0)) and np.all(out <= honest.max(axis=0)))


BIG = float(np.float32(1e30))
WILD = st.floats(-BIG, BIG, width=32)


@SETTINGS
@given(data=st.data(), a=st.integers(0, 4), seed=st.integers(0, 2**32 - 1))
def test_median_stays_in_the_honest_range_with_fewer_attackers(
    data: st.DataObject, a: int, seed: int
) -> None:
    honest, bad = _honest_and_attackers(data.draw, WILD, a + 1, a)
    x = np.random.default_rng(seed).permutation(np.concatenate([honest, bad]))
    out = aggregator_from_name("median").aggregate(np.zeros(x.shape[1], np.float32), ups(x))
    assert _within_honest_range(out, honest)


@SETTINGS
@given(data=st.data(), a=st.integers(0, 3), extra=st.integers(0, 2), seed=st.integers(0, 99))
def test_trimmed_mean_stays_in_the_honest_range_with_at_most_f_attackers(
    data: st.DataObject, a: int, extra: int, seed: int
) -> None:
    f = a + extra
    honest, bad = _honest_and_attackers(data.draw, WILD, f + 1, a)
    x = np.random.default_rng(seed).permutation(np.concatenate([honest, bad]))
    assume(len(x) > 2 * f)
    rule = aggregator_from_name("trimmed_mean", f=f)
    out = rule.aggregate(np.zeros(x.shape[1], np.float32), ups(x))
    assert _within_honest_range(out, honest)


@SETTINGS
@given(data=st.data(), f=st.integers(0, 3), seed=st.integers(0, 99))
def test_krum_picks_an_honest_update_when_attackers_are_far_and_n_exceeds_2f_plus_2(
    data: st.DataObject, f: int, seed: int
) -> None:
    # Honest updates lie in [-10, 10]^d; attackers at least 1e4 away from all of them in
    # some coordinate: an attacker's score then has >= n - 2f - 1 >= 2 huge terms.
    far = st.one_of(st.floats(1e4, BIG, width=32), st.floats(-BIG, -1e4, width=32))
    honest, bad = _honest_and_attackers(data.draw, far, f + 3, f)
    x = np.random.default_rng(seed).permutation(np.concatenate([honest, bad]))
    for rule in (aggregator_from_name("krum", f=f), aggregator_from_name("multi_krum", f=f)):
        out = rule.aggregate(np.zeros(x.shape[1], np.float32), ups(x))
        assert _within_honest_range(out, honest)


@SETTINGS
@given(
    x=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.integers(1, 3000)),
        elements=st.floats(-1e6, 1e6),
    )
)
def test_row_sums_are_accurate_and_independent_of_the_other_rows(x: np.ndarray) -> None:
    sums = row_sums(x)
    for i, row in enumerate(x):
        assert row_sums(row[None, :]).tobytes() == sums[i : i + 1].tobytes()
        exact = math.fsum(row.tolist())
        assert abs(sums[i] - exact) <= 1e-9 * max(1.0, math.fsum(abs(v) for v in row))
