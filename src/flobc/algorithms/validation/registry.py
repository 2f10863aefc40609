"""Validation rules by name, as the genesis selects them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flobc.algorithms.validation.base import ValidationRule
from flobc.algorithms.validation.none import AcceptAll
from flobc.algorithms.validation.paper import PaperRule
from flobc.algorithms.validation.robust import RobustRule

#: Rule constructors by name (see :func:`rule_from_name`).
RULES: dict[str, Callable[..., ValidationRule]] = {
    PaperRule.name: PaperRule,
    RobustRule.name: RobustRule,
    AcceptAll.name: AcceptAll,
}

#: The rule a network uses unless its configuration names another.
DEFAULT_RULE = RobustRule.name


def rule_from_name(name: str, **params: Any) -> ValidationRule:
    """Build a rule by name (case-insensitive, ``-`` = ``_``); bad params raise ValueError."""
    key = name.strip().lower().replace("-", "_")
    try:
        factory = RULES[key]
    except KeyError:
        raise ValueError(f"unknown validation rule {name!r}; known: {sorted(RULES)}") from None
    try:
        return factory(**params)
    except TypeError as exc:
        raise ValueError(f"validation rule {key!r}: {exc}") from None
