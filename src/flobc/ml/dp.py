"""Differential privacy with Opacus (the optional ``privacy`` extra): accounting and DP-SGD.

Privacy spent is computed by Opacus's RDP accountant, not by hand. Two mechanisms:

* ``gaussian`` — the whole update is clipped and noised once per release
  (:func:`flobc.algorithms.privacy.clip_and_noise`): sample rate 1, one step per release.
  It protects a trainer's *whole dataset* at once, so it needs a lot of noise.
* ``dpsgd`` — DP-SGD inside local training (Abadi et al. 2016): Poisson-sampled batches,
  per-sample gradients (Opacus ``GradSampleModule``) clipped to C, N(0, (σC)²) added to
  their sum; sample rate ``batch_size / n`` per step. It protects each *record*.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np

from flobc.algorithms.privacy import PrivacyError

try:
    from opacus.accountants import RDPAccountant
    from opacus.accountants.utils import get_noise_multiplier
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    _IMPORT_ERROR: ImportError | None = _exc
else:
    _IMPORT_ERROR = None

#: One accounting entry: (noise multiplier, sample rate, steps), as Opacus's history.
Step = tuple[float, float, int]


def require_opacus() -> None:
    """Raise a one-line :class:`PrivacyError` when the ``privacy`` extra is missing."""
    if _IMPORT_ERROR is not None:
        raise PrivacyError(
            f"differential privacy needs Opacus: pip install 'flobc[privacy]' ({_IMPORT_ERROR})"
        )


class Accountant:
    """Cumulative ε of one trainer's releases (Opacus ``RDPAccountant``)."""

    def __init__(self, delta: float, history: list[Step] | None = None) -> None:
        require_opacus()
        self.delta = delta
        self.history: list[Step] = []
        for step in history or []:
            self.history = _merged(self.history, step)

    def epsilon(self, extra: Step | None = None) -> float:
        """ε spent so far, or as it would be after also spending ``extra``."""
        steps = _merged(self.history, extra) if extra else self.history
        if not steps:
            return 0.0
        acc = RDPAccountant()
        acc.history = [(float(s), float(q), int(n)) for s, q, n in steps]
        with warnings.catch_warnings():  # "optimal order is the largest alpha" on tiny ε
            warnings.simplefilter("ignore")
            return float(acc.get_epsilon(self.delta))

    def spend(self, step: Step) -> float:
        self.history = _merged(self.history, step)
        return self.epsilon()


def _merged(history: list[Step], step: Step) -> list[Step]:
    """``history`` plus ``step``, merged into the last entry when σ and q match (RDP is
    linear in steps, so this is exact and keeps accounting cheap over many rounds)."""
    if history and history[-1][:2] == step[:2]:
        s, q, n = history[-1]
        return [*history[:-1], (s, q, n + step[2])]
    return [*history, step]


def noise_for_target(epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """The smallest σ (within 0.01 in ε) that spends at most ``epsilon`` over ``steps``."""
    require_opacus()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(
            get_noise_multiplier(
                target_epsilon=epsilon,
                target_delta=delta,
                sample_rate=sample_rate,
                steps=steps,
                accountant="rdp",
                epsilon_tolerance=0.005,
            )
        )


def train_dpsgd(
    learner: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    optimizer: str,
    seed: int,
    clip: float,
    noise_multiplier: float,
    replacement: bool = False,
) -> dict[str, Any]:
    """``steps`` DP-SGD steps on a torch learner's model; returns ``Learner.train`` stats.

    Poisson sampling with rate ``batch_size / n`` (what the accountant assumes); the noisy
    sum is divided by the expected batch size, then SGD or Adam (post-processing) applies it.
    With fewer records than the batch every step takes all n and divides by n.
    ``replacement`` (a validator's reference step only, never released, not private)
    instead draws each record's multiplicity per step from Poisson(batch_size / n) when
    n < batch_size, so the expected batch, and the noise per step σC/B, are a trainer's
    (:func:`step_sample`). Seeded: the same weights, data and seed give the same result.
    """
    require_opacus()
    import torch
    import torch.nn.functional as F
    from opacus.grad_sample import GradSampleModule

    from flobc.ml.torch_backend import Optimizer
    from flobc.ml.train import TrainPlan, summary

    model = learner.model
    n = len(x)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    gsm = GradSampleModule(model, loss_reduction="sum")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = Optimizer(params, optimizer, lr)
    was_training = model.training
    model.train()
    losses: list[float] = []
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # dropout
            for _ in range(steps):
                idx, weights, expected = step_sample(n, batch_size, gen, replacement)
                opt.zero_grad()
                if len(idx):
                    loss = F.cross_entropy(gsm(xt[idx]), yt[idx], reduction="sum")
                    with warnings.catch_warnings():  # hooks on inputs without grad
                        warnings.simplefilter("ignore", UserWarning)
                        loss.backward()
                    losses.append(float(loss.detach()) / len(idx))
                _privatise(params, len(idx), clip, noise_multiplier, expected, gen, weights)
                opt.step()
    finally:
        gsm.cleanup()
        model.train(was_training)
    plan = TrainPlan(steps, lr, batch_size, optimizer, seed)
    return summary(losses, plan, n, time.perf_counter() - t0)


def step_sample(
    n: int, batch_size: int, gen: Any, replacement: bool = False
) -> tuple[Any, Any, float]:
    """One DP-SGD step's records: (indices, multiplicities or None, expected batch).

    Poisson sampling at rate q = B/n: each record joins with probability min(q, 1), and
    the noisy sum is divided by the expected batch min(B, n). When n < B and
    ``replacement``, each record's multiplicity is Poisson(q) instead: the batch has
    B records in expectation (Poisson(B) of them, as a trainer's Binomial(n_t, B/n_t) has
    for n_t ≫ B), drawn with replacement, and the sum is divided by B. A record may then
    enter a step several times, which the accountant does not cover: it is for a
    validator's reference step, which is never released.
    """
    import torch

    q = batch_size / n
    if replacement and q > 1.0:
        counts = torch.poisson(torch.full((n,), q, dtype=torch.float64), generator=gen)
        idx = counts.nonzero().reshape(-1)
        return idx, counts[idx].to(torch.float32), float(batch_size)
    q = min(q, 1.0)
    mask = torch.rand(n, generator=gen) < q
    return mask.nonzero().reshape(-1), None, q * n


def _privatise(
    params: list[Any],
    batch: int,
    clip: float,
    sigma: float,
    expected: float,
    gen: Any,
    weights: Any = None,
) -> None:
    """Replace each ``.grad`` by (Σ clipped per-sample grads + N(0, (σC)²)) / expected,
    each record's clipped gradient counted ``weights`` times when given."""
    import torch

    if batch:
        norms = torch.stack(
            [p.grad_sample.reshape(batch, -1).norm(2, dim=1) for p in params], dim=1
        ).norm(2, dim=1)
        factor = (clip / (norms + 1e-6)).clamp(max=1.0)
        if weights is not None:
            factor = factor * weights
    for p in params:
        total = torch.einsum("i,i...->...", factor, p.grad_sample) if batch else torch.zeros_like(p)
        noise = torch.normal(0.0, sigma * clip, size=p.shape, generator=gen)
        p.grad = (total + noise) / max(expected, 1.0)
        p.grad_sample = None


def dpsgd_plan(n: int, batch_size: int, epochs: int, steps: int) -> tuple[float, int]:
    """(sample rate, steps) of one local training run, as :func:`train_dpsgd` runs it."""
    bs = min(batch_size, n)
    return bs / n, steps if steps else max(epochs, 1) * math.ceil(n / bs)
