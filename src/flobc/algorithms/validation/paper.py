"""``paper``: the paper's rule (§III.B) — median of (score - base score) ≥ threshold.

Each validator scores base + Δ and the base with the network's metric (accuracy by
default) on its validation slice. Known weakness, kept for comparison: at a plateau the
small slices show no change for honest updates and for poison alike (see ``robust``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from flobc.algorithms.decision import decide
from flobc.algorithms.validation.base import RuleDecision, Vote
from flobc.algorithms.validation.noise import DeclaredNoise


class PaperRule:
    """Accept iff the median improvement is at least ``threshold``."""

    name = "paper"
    measures = ("score", "base_score")

    def __init__(self, threshold: float = 0.0) -> None:
        if math.isinf(threshold) or math.isnan(threshold):
            raise ValueError(f"threshold must be finite, got {threshold!r}")
        self.threshold = float(threshold)

    def __repr__(self) -> str:
        return f"PaperRule(threshold={self.threshold!r})"

    def decide(self, votes: Sequence[Vote], noise: DeclaredNoise | None = None) -> RuleDecision:
        d = decide([(v["score"], v["base_score"]) for v in votes], threshold=self.threshold)
        why = "" if d.accepted else f"median improvement {d.improvement:.4g} < {self.threshold:g}"
        return RuleDecision(d.accepted, d.improvement, why)
