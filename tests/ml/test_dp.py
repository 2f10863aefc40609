"""Opacus-backed accounting and DP-SGD (skipped without the ``privacy`` extra)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("opacus")

from opacus.accountants import RDPAccountant

from flobc.ml.dp import Accountant, noise_for_target, train_dpsgd
from flobc.ml.train import make_learner


def _opacus_epsilon(history: list[tuple[float, float, int]], delta: float) -> float:
    acc = RDPAccountant()  # Opacus's own bookkeeping: one step() per DP step
    for sigma, q, steps in history:
        for _ in range(steps):
            acc.step(noise_multiplier=sigma, sample_rate=q)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return acc.get_epsilon(delta)


@pytest.mark.parametrize(
    "history",
    [
        [(3.5, 1.0, 1)] * 30,  # Gaussian mechanism: one step at rate 1 per round
        [(0.85, 32 / 1440, 45)] * 30,  # DP-SGD: 45 local steps at rate 32/1440 per round
        [(1.2, 0.1, 10), (2.0, 0.1, 5), (1.2, 1.0, 1)],  # mixed
    ],
)
def test_our_epsilon_is_opacus_get_epsilon_to_3_decimals(history: list) -> None:
    acc = Accountant(1e-5)
    for step in history:
        acc.spend(step)
    assert round(acc.epsilon(), 3) == round(_opacus_epsilon(history, 1e-5), 3)


def test_noise_for_target_spends_at_most_the_target() -> None:
    for eps in (1.0, 8.0):
        sigma = noise_for_target(eps, 1e-5, 1.0, 30)
        spent = Accountant(1e-5, [(sigma, 1.0, 30)]).epsilon()
        assert eps - 0.01 <= spent <= eps


def test_dpsgd_is_seeded_and_its_noise_dominates_tiny_clips() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    learner = make_learner("logreg", (1, 8, 8), 10, seed=0)
    w0 = learner.get_weights()
    kw = {"steps": 5, "lr": 0.1, "batch_size": 16, "optimizer": "sgd", "seed": 3}
    out = []
    for clip, sigma in [(1e-6, 1e-9), (1e-6, 1e-9), (1.0, 1e-9), (1.0, 5.0)]:
        learner.set_weights(w0)
        stats = train_dpsgd(learner, x, y, clip=clip, noise_multiplier=sigma, **kw)
        assert stats["steps"] == 5
        out.append(learner.get_weights() - w0)
    assert np.array_equal(out[0], out[1])
    # SGD: each step moves by lr * (sum of clipped grads + noise) / expected batch
    assert np.linalg.norm(out[0]) <= 5 * 0.1 * 16 * 1e-6 * 2
    assert np.linalg.norm(out[3]) > 5 * np.linalg.norm(out[2])
    assert not hasattr(next(iter(learner.model.parameters())), "grad_sample")


@pytest.mark.parametrize(
    ("n", "batch", "replacement", "expected"),
    [
        (47, 64, True, 64),  # a validator's half slice below the batch: a trainer's σC/B
        (47, 64, False, 47),  # a trainer below the batch takes all n: σC/n
        (200, 64, True, 64),  # n ≥ B: Poisson sampling, replacement or not
        (200, 64, False, 64),
    ],
)
def test_noise_per_step_is_sigma_c_over_the_expected_batch(
    n: int, batch: int, replacement: bool, expected: int
) -> None:
    """One SGD step (lr 1) on all-zero images: the weights' gradients are zero, so their
    move is the noise alone, N(0, (σC/expected)²) per coordinate (640 of them)."""
    x = np.zeros((n, 1, 8, 8), dtype=np.float32)
    y = np.arange(n) % 10
    learner = make_learner("logreg", (1, 8, 8), 10, seed=0)
    w0 = learner.get_weights()
    train_dpsgd(
        learner, x, y, steps=1, lr=1.0, batch_size=batch, optimizer="sgd", seed=5,
        clip=1.0, noise_multiplier=2.0, replacement=replacement,
    )  # fmt: skip
    moved = (learner.get_weights() - w0)[: 64 * 10]
    assert float(np.std(moved)) * expected == pytest.approx(2.0, rel=0.1)


def test_replacement_draws_the_batch_in_expectation_and_leaves_n_at_least_b_alone() -> None:
    import torch

    from flobc.ml.dp import step_sample

    gen = torch.Generator().manual_seed(0)
    sizes = [float(step_sample(47, 64, gen, True)[1].sum()) for _ in range(2000)]
    assert np.mean(sizes) == pytest.approx(64, abs=0.5)  # Poisson(64): s.e. 0.18
    assert np.var(sizes) == pytest.approx(64, rel=0.15)
    # n ≥ B: the same draws as without replacement, bit for bit (a trainer's step)
    a, b = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    for _ in range(5):
        (ia, wa, ea), (ib, wb, eb) = step_sample(200, 64, a, True), step_sample(200, 64, b)
        assert torch.equal(ia, ib) and wa is wb is None and ea == eb
