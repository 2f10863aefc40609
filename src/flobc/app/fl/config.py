"""The on-ledger FL configuration (genesis ``app_state["fl"]``).

``sync`` is :class:`flobc.algorithms.sync.SyncSettings`, the one definition of those settings.
"""

from __future__ import annotations

from typing import Any

import msgspec

from flobc.algorithms.aggregators import Aggregator, aggregator_from_name
from flobc.algorithms.sync import SyncScheme, SyncSettings, sync_scheme
from flobc.algorithms.validation import DEFAULT_RULE, rule_from_name


class ModelRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which model the network trains: zoo name, shapes, the spec hash and initial weights."""

    name: str
    input_shape: list[int]
    num_classes: int
    #: ModelSpec as JSON (names, shapes, dtypes) so anyone can rebuild the tensors.
    spec_json: str
    size: int
    initial_weights: str  # hex SHA-256 of the initial weight blob


class PrivacyRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The network's differential-privacy minimum, enforced on every update."""

    epsilon_budget: float
    delta: float
    #: updates without a DP claim are rejected
    required: bool = True
    min_noise_multiplier: float = 0.0
    max_clip: float = 0.0  # 0: no maximum


class FLConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    model: ModelRef
    #: Registered trainers' public keys (hex) at genesis (permissioned network).
    trainers: list[str] = []
    open_registration: bool = False
    #: The validation rule deciding updates from votes, and its parameters
    #: (flobc.algorithms.validation; "paper" takes ``threshold``).
    validation: str = DEFAULT_RULE
    validation_params: dict[str, float] = {}
    #: Updates may declare at most this many local steps (0 = no limit): validators
    #: train a reference step as long, so the bound also bounds their work.
    max_local_steps: int = 0
    reputation: str = "reward_penalty"
    reputation_params: dict[str, float] = {}
    weight_by_samples: bool = False
    server_lr: float = 1.0
    #: Aggregation rule (registry name, see flobc.algorithms.aggregators) and its params;
    #: in the genesis so that every validator aggregates with the same rule.
    aggregator: str = "fedavg"
    aggregator_params: dict[str, float] = {}
    #: Norm-clipping pre-step: clip each delta to this x the round's median norm (0 = off).
    clip_multiplier: float = 0.0
    sync: SyncSettings = SyncSettings()
    max_samples: int = 10_000_000
    privacy: PrivacyRules | None = None

    def scheme(self) -> SyncScheme:
        """The configured synchronisation scheme (ValueError for an unknown name)."""
        return sync_scheme(self.sync)

    def aggregation_rule(self) -> Aggregator:
        """The configured rule; ``weight_by_samples`` is FedAvg's own parameter."""
        params: dict[str, Any] = dict(self.aggregator_params)
        if self.weight_by_samples:
            params["weight_by_samples"] = True
        return aggregator_from_name(self.aggregator, clip_multiplier=self.clip_multiplier, **params)

    @classmethod
    def from_app_state(cls, app_state: dict) -> FLConfig:
        try:
            cfg = msgspec.convert(app_state["fl"], cls)
        except (KeyError, msgspec.ValidationError) as exc:
            raise ValueError(f"invalid FL config in genesis: {exc}") from exc
        try:
            cfg.scheme()
            rule_from_name(cfg.validation, **cfg.validation_params)
            cfg.aggregation_rule()
        except ValueError as exc:
            raise ValueError(f"invalid FL config in genesis: {exc}") from exc
        return cfg
