"""Reputation (trust score) policies: the paper's reward-penalty (§III.D, Exp. 2) and Beta.

Every registered trainer ``i`` holds a trust score ``φ_i`` with ``0 ≤ φ_i ≤ 1`` and
``Σ φ_i = 1``; the score weighs its updates in aggregation. After each decided update the
trainer's score moves with the validators' median improvement and all scores are
renormalised, so one trainer's rise is everyone else's relative decline.

Policies are pure: they take the current mapping and return a new ``dict`` (keys in sorted
order), never mutate input, and iterate in sorted key order so results are bit-identical on
every validator. Inputs are sanitised (non-finite or negative scores count as 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "POLICIES",
    "Beta",
    "ReputationPolicy",
    "RewardPenalty",
    "Uniform",
    "normalise_scores",
    "policy_from_name",
    "register_trainer",
]


@runtime_checkable
class ReputationPolicy(Protocol):
    """How trust scores react to decisions and to new trainers.

    A policy may set ``order_free = True`` when :meth:`update` reads only the trainers
    and ``evidence`` (not ``scores``, the trainer or the improvement): then the scores
    after a batch of decisions equal the scores after any one of them, and the ledger
    applies one update per release instead of one per decided update (absent: False).
    """

    name: str

    def update(
        self,
        scores: Mapping[str, float],
        trainer: str,
        improvement: float,
        accepted: bool,
        *,
        evidence: Mapping[str, tuple[int, int]] | None = None,
    ) -> dict[str, float]:
        """Scores after ``trainer``'s update was decided with this median improvement.

        ``evidence`` maps every trainer to its (accepted, rejected) decision counts so far;
        policies that judge by track record rather than by single steps read it.
        """
        ...

    def on_register(self, scores: Mapping[str, float], new_trainer: str) -> dict[str, float]:
        """Scores after ``new_trainer`` joined (idempotent for an existing trainer)."""
        ...


def _clean(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) and value > 0.0 else 0.0


def _uniform(keys: list[str]) -> dict[str, float]:
    return {k: 1.0 / len(keys) for k in keys} if keys else {}


def normalise_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """Scale scores to sum to 1 (sorted keys). If nothing is positive, uniform over all.

    The all-zero case happens when every trainer has been penalised to 0. The ledger then
    holds no evidence to prefer anyone, so everyone restarts at ``1/N`` — the same state a
    fresh network starts in. (Giving the share only to earlier-zeroed trainers, or keeping
    the last one at 1, would each privilege someone who also declined.)
    """
    keys = sorted(scores)
    values = [_clean(scores[k]) for k in keys]
    total = math.fsum(values)
    if not (total > 0.0 and math.isfinite(total)):
        return _uniform(keys)
    return {k: min(1.0, v / total) for k, v in zip(keys, values, strict=True)}


def register_trainer(scores: Mapping[str, float], new_trainer: str) -> dict[str, float]:
    """Newcomer gets ``1/N_new``; existing scores are scaled by ``(N_new - 1)/N_new``.

    Relative history is preserved (ratios between existing trainers are unchanged), unlike a
    reset of everyone to ``1/N``. Registering an existing trainer only renormalises.
    """
    if new_trainer in scores:
        return normalise_scores(scores)
    existing = normalise_scores(scores)
    n_new = len(existing) + 1
    scale = (n_new - 1) / n_new
    out = {k: v * scale for k, v in existing.items()}
    out[new_trainer] = 1.0 / n_new
    return {k: out[k] for k in sorted(out)}


class RewardPenalty:
    """The paper's reward-penalty policy.

    ``φ_i ← max(0, φ_i + step)`` then renormalise, with the step from the median
    improvement ``I`` of the decided update:

    * ``I ≥ 0`` and accepted: ``step = reward · I`` (rejected non-negative → no change);
    * ``I < 0`` (accepted or not): ``step = penalty · I`` — penalties are stronger than
      rewards by default (2x), so noisy trainers reach 0 within a few rounds (Table I);
    * ``I`` non-finite (NaN/±inf, i.e. a broken or hostile result): ``step = -1``, a
      full-magnitude penalty that zeroes the score;
    * the step is clamped to ``[-1, 1]``: one decision moves a score by at most 1 before
      renormalisation, which also keeps the arithmetic finite for huge inputs.

    A zeroed trainer can earn trust back only through accepted improving updates.
    """

    name = "reward_penalty"

    def __init__(self, reward: float = 1.0, penalty: float = 2.0) -> None:
        for label, rate in (("reward", reward), ("penalty", penalty)):
            if not (math.isfinite(rate) and rate >= 0.0):
                raise ValueError(f"{label} must be finite and >= 0, got {rate!r}")
        self.reward = float(reward)
        self.penalty = float(penalty)

    def __repr__(self) -> str:
        return f"RewardPenalty(reward={self.reward!r}, penalty={self.penalty!r})"

    def step(self, improvement: float, accepted: bool) -> float:
        """The additive change to the trainer's score, before renormalisation."""
        improvement = float(improvement)
        if not math.isfinite(improvement):
            return -1.0
        if improvement >= 0.0:
            raw = self.reward * improvement if accepted else 0.0
        else:
            raw = self.penalty * improvement
        return min(1.0, max(-1.0, raw))

    def update(
        self,
        scores: Mapping[str, float],
        trainer: str,
        improvement: float,
        accepted: bool,
        *,
        evidence: Mapping[str, tuple[int, int]] | None = None,
    ) -> dict[str, float]:
        """Apply one decision to ``trainer``'s score; raises ``KeyError`` if unregistered."""
        if trainer not in scores:
            raise KeyError(f"unregistered trainer {trainer!r}")
        current = normalise_scores(scores)
        current[trainer] = max(0.0, current[trainer] + self.step(improvement, accepted))
        return normalise_scores(current)

    def on_register(self, scores: Mapping[str, float], new_trainer: str) -> dict[str, float]:
        return register_trainer(scores, new_trainer)


class Beta:
    """Beta reputation (Jøsang & Ismail 2002): trust follows a trainer's track record.

    A trainer with ``a`` accepted and ``b`` rejected updates is honest with expected
    probability ``E = (1 + a) / (2 + a + b)`` under a uniform prior. Its weight is
    ``max(0, 2E - 1) = max(0, (a - b) / (2 + a + b))``, then all weights are normalised:

    * unlike reward-penalty it is not competitive: honest trainers whose updates are
      accepted keep similar weights, and a rare false rejection costs little, so honest
      trainers cannot be driven to 0;
    * a trainer rejected at least as often as accepted weighs exactly 0 (attackers fall
      to 0, and their rare accepted updates add nothing);
    * with no evidence yet everyone is at 0, which normalises to equal weights.

    Scores depend only on the counts, so the order decisions are applied in cannot
    change them.
    """

    name = "beta"
    #: scores are a function of the evidence alone (see ReputationPolicy)
    order_free = True

    def __repr__(self) -> str:
        return "Beta()"

    @staticmethod
    def weight(accepted: int, rejected: int) -> float:
        a, b = max(0, int(accepted)), max(0, int(rejected))
        return max(0.0, (a - b) / (2.0 + a + b))

    def update(
        self,
        scores: Mapping[str, float],
        trainer: str,
        improvement: float,
        accepted: bool,
        *,
        evidence: Mapping[str, tuple[int, int]] | None = None,
    ) -> dict[str, float]:
        if trainer not in scores:
            raise KeyError(f"unregistered trainer {trainer!r}")
        if evidence is None:
            raise ValueError("the beta policy needs every trainer's decision counts")
        return normalise_scores({t: self.weight(*evidence.get(t, (0, 0))) for t in sorted(scores)})

    def on_register(self, scores: Mapping[str, float], new_trainer: str) -> dict[str, float]:
        return register_trainer(scores, new_trainer)


class Uniform:
    """Scoring disabled (the paper's control group): every trainer has ``1/N``."""

    name = "uniform"
    #: scores are a function of the trainers alone (see ReputationPolicy)
    order_free = True

    def __repr__(self) -> str:
        return "Uniform()"

    def update(
        self,
        scores: Mapping[str, float],
        trainer: str,
        improvement: float,
        accepted: bool,
        *,
        evidence: Mapping[str, tuple[int, int]] | None = None,
    ) -> dict[str, float]:
        if trainer not in scores:
            raise KeyError(f"unregistered trainer {trainer!r}")
        return _uniform(sorted(scores))

    def on_register(self, scores: Mapping[str, float], new_trainer: str) -> dict[str, float]:
        return _uniform(sorted({*scores, new_trainer}))


#: Registry of policy constructors by name (see :func:`policy_from_name`).
POLICIES: dict[str, Callable[..., ReputationPolicy]] = {
    Beta.name: Beta,
    RewardPenalty.name: RewardPenalty,
    Uniform.name: Uniform,
}


def policy_from_name(name: str, **params: Any) -> ReputationPolicy:
    """Build a policy from its name (``-`` and ``_`` are interchangeable, case-insensitive)."""
    key = name.strip().lower().replace("-", "_")
    try:
        factory = POLICIES[key]
    except KeyError:
        raise ValueError(f"unknown reputation policy {name!r}; known: {sorted(POLICIES)}") from None
    return factory(**params)
