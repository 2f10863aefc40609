"""Partitioners and noise injection."""

from __future__ import annotations

import numpy as np
import pytest

from flobc.ml.noise import PAPER_NOISE_K, add_update_noise, noise_std
from flobc.ml.partition import (
    dirichlet,
    iid_disjoint,
    iid_fraction,
    label_skew,
    partition_for_validators,
    shards,
)

LABELS = np.repeat(np.arange(10), 60)  # 600 samples, 10 balanced classes


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def check_parts(parts: list[np.ndarray], n: int, k: int) -> None:
    assert len(parts) == k
    for p in parts:
        assert p.dtype == np.int64 and len(p) > 0
        assert np.all(np.diff(p) > 0) and p.min() >= 0 and p.max() < n


def test_iid_fraction() -> None:
    parts = iid_fraction(1000, 7, 0.3, seed=1)
    check_parts(parts, 1000, 7)
    assert all(len(p) == 300 for p in parts)
    assert same(parts, iid_fraction(1000, 7, 0.3, seed=1))
    assert not same(parts, iid_fraction(1000, 7, 0.3, seed=2))
    assert same(parts[:3], iid_fraction(1000, 3, 0.3, seed=1))  # stable when trainers join
    assert len(np.intersect1d(parts[0], parts[1])) > 0  # independent draws overlap
    with pytest.raises(ValueError):
        iid_fraction(1000, 2, 0.0)


def test_iid_disjoint() -> None:
    parts = iid_disjoint(103, 4, seed=0)
    check_parts(parts, 103, 4)
    assert sorted(len(p) for p in parts) == [25, 26, 26, 26]
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(103))
    assert same(parts, iid_disjoint(103, 4, seed=0))
    with pytest.raises(ValueError):
        iid_disjoint(3, 4)


@pytest.mark.parametrize("alpha", [0.05, 0.5, 100.0])
def test_dirichlet_covers_disjointly(alpha: float) -> None:
    parts = dirichlet(LABELS, 8, alpha, seed=3)
    check_parts(parts, len(LABELS), 8)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(LABELS)))
    assert same(parts, dirichlet(LABELS, 8, alpha, seed=3))


def test_dirichlet_skew_grows_as_alpha_shrinks() -> None:
    skews = [
        np.mean([label_skew(LABELS, dirichlet(LABELS, 6, a, seed=s)) for s in range(3)])
        for a in (100.0, 1.0, 0.1)
    ]
    assert skews[0] < skews[1] < skews[2]
    assert skews[0] < 0.15 and skews[2] > 0.5
    assert label_skew(LABELS, iid_disjoint(len(LABELS), 6, seed=0)) < 0.15


def test_dirichlet_min_size_fallback() -> None:
    labels = np.repeat(np.arange(2), 10)
    parts = dirichlet(labels, 10, 0.01, seed=0, min_size=2)
    assert all(len(p) >= 2 for p in parts)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(20))


def test_shards() -> None:
    parts = shards(LABELS, 10, shards_per_part=2, seed=0)
    check_parts(parts, len(LABELS), 10)
    assert all(len(p) == 60 for p in parts)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(LABELS)))
    assert all(len(np.unique(LABELS[p])) <= 2 for p in parts)
    assert same(parts, shards(LABELS, 10, 2, seed=0))
    assert not same(parts, shards(LABELS, 10, 2, seed=1))


def test_partition_for_validators() -> None:
    parts = partition_for_validators(100, 3, seed=0)
    check_parts(parts, 100, 3)
    assert [len(p) for p in parts] == [33, 33, 33]
    assert len(np.unique(np.concatenate(parts))) == 99
    small = partition_for_validators(100, 3, seed=0, per_validator=10)
    assert [len(p) for p in small] == [10, 10, 10]
    assert same(parts, partition_for_validators(100, 3, seed=0))


def test_update_noise() -> None:
    assert PAPER_NOISE_K == 0.0545 and noise_std(0) == 0 and noise_std(5) == pytest.approx(0.2725)
    delta = np.ones(20000, np.float32)
    clean = add_update_noise(delta, 0.0, np.random.default_rng(0))
    assert np.array_equal(clean, delta) and clean is not delta
    noisy = add_update_noise(delta, noise_std(4), np.random.default_rng(0))
    assert noisy.dtype == np.float32
    assert np.std(noisy - delta) == pytest.approx(4 * 0.0545, rel=0.05)
    assert abs(np.mean(noisy - delta)) < 0.01
    assert np.array_equal(noisy, add_update_noise(delta, noise_std(4), np.random.default_rng(0)))
    with pytest.raises(ValueError):
        add_update_noise(delta, -1.0, np.random.default_rng(0))


def test_iid_fraction_part_is_that_part_alone() -> None:
    from flobc.ml.partition import iid_fraction, iid_fraction_part

    parts = iid_fraction(500, 7, 0.1, seed=3)
    for i, p in enumerate(parts):
        assert np.array_equal(iid_fraction_part(500, 7, i, 0.1, seed=3), p)
    with pytest.raises(ValueError, match="no part 7 of 7"):
        iid_fraction_part(500, 7, 7, 0.1)
    # parts overlap: more parts than samples is fine
    assert len(iid_fraction_part(5, 7, 6, 0.5)) == 2
    with pytest.raises(ValueError, match="positive number of parts"):
        iid_fraction_part(5, 0, 0, 0.5)
