"""Validation rules: how validators' votes on one update become accept or reject.

A rule names the *measures* every vote must carry (computed off-chain by each validator
on its private validation data) and decides from the quorum's votes, on-chain and
deterministically. Rules are plug-ins selected in the genesis (``FLConfig.validation``):

* ``paper`` — the paper's rule: median of (score - base score) ≥ threshold (§III.B).
* ``robust`` — the default: a noise-aware loss test at the update's aggregation weight,
  and agreement with the validator's own reference step in direction and size.
* ``none`` — accept every update without evaluating it (the no-defence control).
"""

from flobc.algorithms.validation.base import RuleDecision, ValidationRule, Vote, median
from flobc.algorithms.validation.noise import DeclaredNoise
from flobc.algorithms.validation.registry import DEFAULT_RULE, RULES, rule_from_name

__all__ = [
    "DEFAULT_RULE",
    "RULES",
    "DeclaredNoise",
    "RuleDecision",
    "ValidationRule",
    "Vote",
    "median",
    "rule_from_name",
]
