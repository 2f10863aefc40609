"""Colluding attacks against their papers' formulas and constraints."""

from __future__ import annotations

import numpy as np
import pytest

from flobc.algorithms.attacks import (
    AttackContext,
    alie_z,
    attack_from_name,
    attack_rng,
    pairwise_distances,
    search_gamma,
)

RNG = np.random.default_rng(7)
PEERS = tuple(RNG.normal(0.1, 1.0, size=40).astype(np.float32) for _ in range(6))
G = np.stack([p.astype(np.float64) for p in PEERS])


def ctx(peers: tuple[np.ndarray, ...] = PEERS, **kw: object) -> AttackContext:
    args: dict[str, object] = {
        "base": np.zeros(40, np.float32),
        "honest": np.full(40, 9.0, np.float32),
        "version": 1,
        "rnd": 0,
        "rng": attack_rng(0),
        "num_trainers": 10,
        "num_attackers": 3,
        "peers": peers,
    }
    args.update(kw)
    return AttackContext(**args)  # type: ignore[arg-type]


def test_alie_z_follows_baruch_et_al() -> None:
    # n = 10, m = 3: s = floor(10/2 + 1) - 3 = 3, z = Phi^-1(7/10)
    assert alie_z(10, 3) == pytest.approx(0.5244005127080407)
    # n = 50, m = 12 (the paper's setting): s = 26 - 12 = 14, z = Phi^-1(36/50)
    assert alie_z(50, 12) == pytest.approx(0.5828415072712162)
    # attackers already a majority: s clamped at 1 instead of an infinite z
    assert alie_z(4, 3) == pytest.approx(alie_z(4, 2))


def test_alie_is_mean_minus_z_std() -> None:
    out = attack_from_name("alie")(ctx())
    expected = G.mean(axis=0) - alie_z(10, 3) * G.std(axis=0)
    np.testing.assert_allclose(out, expected.astype(np.float32), rtol=1e-6)
    fixed = attack_from_name("alie", z=1.5)(ctx())
    np.testing.assert_allclose(fixed, G.mean(axis=0) - 1.5 * G.std(axis=0), rtol=1e-5)


def test_ipm_is_minus_epsilon_mean() -> None:
    out = attack_from_name("ipm", epsilon=0.1)(ctx())
    np.testing.assert_allclose(out, -0.1 * G.mean(axis=0), rtol=1e-6)
    assert float(out @ G.mean(axis=0)) < 0


def test_colluders_honest_updates_are_the_reference_without_peers() -> None:
    own = (np.ones(40, np.float32), 3 * np.ones(40, np.float32))
    out = attack_from_name("ipm", epsilon=1.0)(ctx(peers=(), colluders=own))
    np.testing.assert_allclose(out, -2 * np.ones(40))
    alone = attack_from_name("ipm", epsilon=1.0)(ctx(peers=()))
    np.testing.assert_allclose(alone, -9 * np.ones(40))  # the honest Δ alone


def test_search_gamma_finds_the_largest_feasible_gamma() -> None:
    assert search_gamma(lambda g: g <= 3.7, 10.0, 1e-6) == pytest.approx(3.7, abs=1e-5)
    assert search_gamma(lambda g: False) == 0.0
    assert search_gamma(lambda g: True, 10.0) == pytest.approx(20.0, abs=1e-3)


@pytest.mark.parametrize("direction", ["unit_vec", "std", "sign"])
def test_min_max_is_no_farther_from_any_honest_update_than_they_are_from_each_other(
    direction: str,
) -> None:
    out = attack_from_name("min_max", direction=direction)(ctx()).astype(np.float64)
    bound = pairwise_distances(G).max()
    dist = np.linalg.norm(G - out, axis=1).max()
    assert dist <= bound * (1 + 1e-5)
    assert dist >= bound * 0.99  # gamma is (close to) the largest allowed
    assert np.linalg.norm(out - G.mean(axis=0)) > 0


@pytest.mark.parametrize("direction", ["unit_vec", "std", "sign"])
def test_min_sum_squared_distances_stay_within_the_honest_maximum(direction: str) -> None:
    out = attack_from_name("min_sum", direction=direction)(ctx()).astype(np.float64)
    bound = (pairwise_distances(G) ** 2).sum(axis=1).max()
    total = (np.linalg.norm(G - out, axis=1) ** 2).sum()
    assert total <= bound * (1 + 1e-5)
    assert total >= bound * 0.99


def test_min_max_moves_against_the_mean_with_unit_vec() -> None:
    out = attack_from_name("min_max", direction="unit_vec")(ctx()).astype(np.float64)
    mu = G.mean(axis=0)
    gamma = np.linalg.norm(out - mu)
    np.testing.assert_allclose(out, mu - gamma * mu / np.linalg.norm(mu), rtol=1e-5, atol=1e-6)
