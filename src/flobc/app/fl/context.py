"""What FL block execution and queries read besides the state: the genesis' rules.

Built once per app from the genesis config. :mod:`.rounds` and :mod:`.queries` take it
instead of the app, so they sit below :mod:`.app` (no import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flobc.algorithms.aggregators import Aggregator
from flobc.algorithms.reputation import ReputationPolicy, policy_from_name
from flobc.algorithms.sync import SyncScheme
from flobc.algorithms.validation import ValidationRule, rule_from_name
from flobc.app.fl.config import FLConfig


@dataclass(frozen=True)
class FLContext:
    """The genesis' config and the strategies it selects, and the content-addressed blob
    store (``get(hash) -> bytes | None``, ``put(data)``) holding weights and deltas."""

    cfg: FLConfig
    scheme: SyncScheme
    policy: ReputationPolicy
    rule: ValidationRule
    aggregator: Aggregator
    blobs: Any

    @classmethod
    def build(cls, cfg: FLConfig, blobs: Any) -> FLContext:
        return cls(
            cfg=cfg,
            scheme=cfg.scheme(),
            policy=policy_from_name(cfg.reputation, **cfg.reputation_params),
            rule=rule_from_name(cfg.validation, **cfg.validation_params),
            aggregator=cfg.aggregation_rule(),
            blobs=blobs,
        )
