"""A trainer's differential privacy: its parameters, its accountant, and each release.

Built from the ``[privacy]`` run configuration (network settings, then the trainer's
override). Everything that can be wrong is found before any training: bad parameters, a
missing Opacus, a noise multiplier that overspends in one update, a budget already spent
on the ledger. Each release spends privacy *before* its Δ leaves the trainer, and the
trainer stops (:class:`BudgetSpent`) rather than exceed its budget.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from flobc.algorithms.privacy import (
    DPParams,
    Mechanism,
    PrivacyError,
    clip_and_noise,
    dp_rng,
)
from flobc.app.fl.txs import DPClaim
from flobc.node_apps.fl.settings import FLRunConfig


class BudgetSpent(PrivacyError):
    """The next update would exceed the trainer's privacy budget: the trainer stops."""


@functools.lru_cache(maxsize=64)
def _derived_sigma(epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    from flobc.ml.dp import noise_for_target

    return noise_for_target(epsilon, delta, sample_rate, steps)


@dataclass(frozen=True)
class ReleasePlan:
    """Accounting of one planned release: sample rate and steps (Opacus history entry)."""

    sample_rate: float
    steps: int


def release_plan(cfg: FLRunConfig, mechanism: str, n_samples: int) -> ReleasePlan:
    """Gaussian: the whole update once (rate 1, 1 step). DP-SGD: one local training run."""
    if mechanism == Mechanism.GAUSSIAN:
        return ReleasePlan(1.0, 1)
    from flobc.ml.dp import dpsgd_plan

    t = cfg.training
    q, steps = dpsgd_plan(n_samples, t.batch_size, t.epochs, t.steps)
    return ReleasePlan(q, steps)


def trainer_params(cfg: FLRunConfig, index: int, n_samples: int) -> DPParams:
    """The trainer's DP parameters: network settings, its override, σ derived if unset."""
    p = cfg.privacy
    o = p.trainer.get(str(index))
    mechanism = (o.mechanism if o else None) or p.mechanism
    budget = o.epsilon_budget if o and o.epsilon_budget is not None else p.epsilon_budget
    clip = o.clip if o and o.clip is not None else p.clip
    sigma = o.noise_multiplier if o and o.noise_multiplier is not None else p.noise_multiplier
    if sigma is None:
        from flobc.algorithms.privacy import validate

        validate(budget, p.delta, clip, None)  # before the (slow) search, for a clear message
        plan = release_plan(cfg, mechanism, n_samples)
        sigma = _derived_sigma(budget, p.delta, plan.sample_rate, p.planned_rounds * plan.steps)
    return DPParams(mechanism, clip, sigma, budget, p.delta)


class TrainerPrivacy:
    """One trainer's DP state across releases (see the module docstring)."""

    def __init__(self, cfg: FLRunConfig, index: int, n_samples: int) -> None:
        from flobc.ml.dp import Accountant

        self.cfg = cfg
        self.index = index
        self.params = trainer_params(cfg, index, n_samples)
        self.plan = release_plan(cfg, self.params.mechanism, n_samples)
        self.accountant = Accountant(self.params.delta)
        self.releases = 0
        first = self.accountant.epsilon(self._step(None))
        if first > self.params.epsilon_budget:
            raise PrivacyError(
                f"privacy: trainer {index}'s noise_multiplier {self.params.noise_multiplier:.4g}"
                f" spends epsilon {first:.3f} in one update, over its budget"
                f" {self.params.epsilon_budget}"
            )

    @classmethod
    def from_config(cls, cfg: FLRunConfig, index: int, n_samples: int) -> TrainerPrivacy | None:
        return cls(cfg, index, n_samples) if cfg.privacy.enabled else None

    @property
    def epsilon(self) -> float:
        return self.accountant.epsilon()

    def _step(self, steps: int | None) -> tuple[float, float, int]:
        """One release's accounting entry; only DP-SGD's depends on the steps trained."""
        n = steps if (self.params.mechanism == Mechanism.DPSGD and steps) else self.plan.steps
        return (self.params.noise_multiplier, self.plan.sample_rate, n)

    def resume(self, releases: int, ledger_epsilon: float = 0.0) -> None:
        """Continue after ``releases`` earlier updates (from the ledger), each as planned.

        Raises :class:`BudgetSpent` when the ledger already shows the budget spent.
        """
        if ledger_epsilon >= self.params.epsilon_budget:
            raise BudgetSpent(
                f"privacy budget already spent: trainer {self.index} has epsilon"
                f" {ledger_epsilon:.4f} of {self.params.epsilon_budget} on the ledger"
            )
        for _ in range(releases):
            self.accountant.spend(self._step(None))
        self.releases = releases

    def ensure_budget(self, steps: int | None = None) -> None:
        """Raise :class:`BudgetSpent` if one more release would exceed the budget."""
        after = self.accountant.epsilon(self._step(steps))
        if after > self.params.epsilon_budget:
            raise BudgetSpent(
                f"privacy budget spent: trainer {self.index} is at epsilon"
                f" {self.epsilon:.4f} after {self.releases} updates; one more would reach"
                f" {after:.4f} > {self.params.epsilon_budget} (delta {self.params.delta})"
            )

    def release(
        self, delta: np.ndarray, base_version: int, steps: int = 0
    ) -> tuple[np.ndarray, DPClaim]:
        """Spend one release: the Δ to upload (clipped and noised for ``gaussian``; DP-SGD
        already noised it in training) and the signed claim that goes with it."""
        p = self.params
        self.ensure_budget(steps)
        if p.mechanism == Mechanism.GAUSSIAN:
            rng = dp_rng(self.cfg.seed, self.index, base_version, self.releases)
            delta = clip_and_noise(delta, p.clip, p.noise_multiplier, rng)
        eps = self.accountant.spend(self._step(steps))
        self.releases += 1
        return delta, DPClaim(p.mechanism, p.clip, p.noise_multiplier, eps)

    def train_dpsgd(self, learner: object, x: np.ndarray, y: np.ndarray, **kw: object) -> dict:
        """Local training with DP-SGD at this trainer's clip and σ (see ``flobc.ml.dp``)."""
        from flobc.ml.dp import train_dpsgd

        p = self.params
        return train_dpsgd(
            learner,
            x,
            y,
            clip=p.clip,
            noise_multiplier=p.noise_multiplier,
            **kw,  # type: ignore[arg-type]
        )
