"""The pure DP mechanism: clipping, noise, the norm band and the ledger's own ε."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from flobc.algorithms import privacy as dp

CLAIM = {
    "mechanism": "gaussian",
    "clip": 1.0,
    "noise_multiplier": 2.0,
    "epsilon": 5.0,
    "prev_epsilon": 0.0,
    "prev_rho": 0.0,
    "min_noise_multiplier": 1.0,
    "max_clip": 0.0,
    "epsilon_budget": 8.0,
    "delta": 1e-5,
}


def test_clip_scales_down_only_and_norm_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    big = rng.normal(0, 1, 1000).astype(np.float32)
    out = dp.clip_and_noise(big, 0.5, 1e-12, dp.dp_rng(0, 0, 0, 0))
    assert dp.l2_norm(out) == pytest.approx(0.5, rel=1e-5)
    small = big / 1e4
    out = dp.clip_and_noise(small, 0.5, 1e-12, dp.dp_rng(0, 0, 0, 0))
    np.testing.assert_allclose(out, small, rtol=1e-4, atol=1e-10)
    assert dp.l2_norm(big) == dp.l2_norm(big[::-1].copy())  # order-independent (fsum)


def test_noise_is_reproducible_per_release_and_differs_between_releases() -> None:
    d = np.zeros(100, np.float32)
    a = dp.clip_and_noise(d, 1.0, 1.0, dp.dp_rng(0, 3, 5, 0))
    b = dp.clip_and_noise(d, 1.0, 1.0, dp.dp_rng(0, 3, 5, 0))
    c = dp.clip_and_noise(d, 1.0, 1.0, dp.dp_rng(0, 3, 5, 1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert float(np.std(a)) == pytest.approx(1.0, rel=0.2)


@pytest.mark.parametrize("dim", [10, 650, 20_000])
def test_honest_updates_fall_in_the_norm_band_cheats_do_not(dim: int) -> None:
    rng = np.random.default_rng(dim)
    for k in range(50):
        delta = rng.normal(0, 0.1 * (k + 1), dim)
        noisy = dp.clip_and_noise(delta, 0.7, 1.3, dp.dp_rng(1, 0, k, 0))
        assert dp.check_norm("gaussian", 0.7, 1.3, noisy) is None
    unclipped = rng.normal(0, 100, dim)
    assert "exceeds clip" in (dp.check_norm("gaussian", 0.7, 1.3, unclipped) or "")
    if dim >= 650:  # with enough coordinates, skipping the noise shows
        clipped_only = dp.clip_and_noise(rng.normal(0, 1, dim), 0.7, 1e-12, rng)
        assert "too small" in (dp.check_norm("gaussian", 0.7, 1.3, clipped_only) or "")
    assert dp.check_norm("dpsgd", 0.7, 1.3, unclipped) is None


def test_epsilon_from_rho_is_opacus_rdp() -> None:
    accountants = pytest.importorskip("opacus.accountants")
    for sigma, steps in [(0.8, 1), (3.5, 30), (22.0, 30), (1.1, 7)]:
        acc = accountants.RDPAccountant()
        acc.history = [(sigma, 1.0, steps)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "optimal order is the largest alpha"
            expected = acc.get_epsilon(1e-5)
        got = dp.epsilon_from_rho(steps * dp.zcdp_rho(sigma), 1e-5)
        assert got == pytest.approx(expected, rel=1e-9)


def test_an_honest_claim_passes() -> None:
    eps = dp.epsilon_from_rho(dp.zcdp_rho(2.0), 1e-5)
    assert dp.check_claim(**{**CLAIM, "epsilon": eps}) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"noise_multiplier": 0.5}, "below the network minimum"),
        ({"clip": 3.0, "max_clip": 2.0}, "exceeds the network maximum"),
        ({"epsilon": 9.0}, "exceed the budget"),
        ({"epsilon": 0.01}, "below the ledger's"),
        ({"epsilon": 4.0, "prev_epsilon": 4.0}, "must grow"),
        ({"clip": -1.0}, "clip must be finite and > 0"),
        ({"noise_multiplier": math.nan}, "noise_multiplier must be"),
        ({"mechanism": "laplace"}, "unknown DP mechanism"),
    ],
)
def test_bad_claims_are_refused_with_a_reason(change: dict, message: str) -> None:
    why = dp.check_claim(**{**CLAIM, **change})
    assert why is not None and message in why


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0.0, 1e-5, 1.0, None), "epsilon_budget must be > 0"),
        ((-1.0, 1e-5, 1.0, None), "epsilon_budget must be > 0"),
        ((1.0, 0.0, 1.0, None), "delta must be in (0, 1)"),
        ((1.0, 1.0, 1.0, None), "delta must be in (0, 1)"),
        ((1.0, 1e-5, 0.0, None), "clip must be > 0"),
        ((1.0, 1e-5, 1.0, 0.0), "noise_multiplier must be > 0"),
    ],
)
def test_bad_parameters_get_one_line_errors(args: tuple, message: str) -> None:
    with pytest.raises(dp.PrivacyError) as exc:
        dp.validate(*args)
    assert message in str(exc.value) and "\n" not in str(exc.value)
