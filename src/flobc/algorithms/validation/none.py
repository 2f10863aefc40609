"""``none``: every update is accepted unevaluated — the control arm with no defence."""

from __future__ import annotations

from collections.abc import Sequence

from flobc.algorithms.validation.base import RuleDecision, Vote
from flobc.algorithms.validation.noise import DeclaredNoise


class AcceptAll:
    """Accepts everything; votes carry no measures (validators skip the ML work)."""

    name = "none"
    measures: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return "AcceptAll()"

    def decide(self, votes: Sequence[Vote], noise: DeclaredNoise | None = None) -> RuleDecision:
        return RuleDecision(accepted=True, improvement=0.0, reason="no validation")
