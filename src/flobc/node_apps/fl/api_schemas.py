"""Response bodies of the FL API, as msgspec structs (see :mod:`flobc.node.api_schemas`):
the OpenAPI document's schemas, and a second check of real answers in the tests."""

from __future__ import annotations

import msgspec


class VersionDoc(msgspec.Struct):
    """A released model version."""

    version: int
    #: hex SHA-256 of the float32 weight blob
    hash: str
    height: int
    time_ms: int
    round: int
    reason: str
    updates: list[str]
    accepted: int
    rejected: int
    skipped: int
    scores: dict[str, float]


class TrainerDoc(msgspec.Struct):
    """One entry of ``GET /v1/trainers``."""

    id: str
    index: int
    name: str
    public_key: str
    score: float
    submitted: int
    accepted: int
    rejected: int
    active: bool
    #: the trainer's update of the open round: its status, or "waiting" (none yet)
    round_status: str
    #: differential privacy: cumulative epsilon claimed (at the network's delta)
    epsilon: float
    #: how many DP updates it sent
    dp_releases: int


class RoundUpdateDoc(msgspec.Struct):
    """One trainer's current update of the round (``GET /v1/round?updates=1``)."""

    id: str
    #: the trainer's index
    trainer: int
    base_version: int


class RoundDoc(msgspec.Struct):
    """``GET /v1/round``: the open round and its synchronisation state."""

    round: int
    scheme: str
    base_version: int
    started_at_ms: int
    period_ms: int
    deadline_ms: int | None
    max_end_ms: int
    extension_until_ms: int | None
    slack_ratio: float
    labour_ratio: float
    submitted: int
    decided: int
    active_trainers: int
    skipped: int
    skipped_total: int
    block_time_ms: int
    height: int
    #: only with ``?updates=1``: each trainer's current update, in trainer order
    updates: list[RoundUpdateDoc] = []


class ValidationScoresDoc(msgspec.Struct):
    """A version's score on each validator's private validation data."""

    #: null until updates trained from the version were voted on
    median: float | None
    #: validator index (as a string key) -> its score of the version
    by_validator: dict[str, float]


class VersionListItemDoc(VersionDoc):
    """An entry of ``GET /v1/models``: a version with its validation scores."""

    validation: ValidationScoresDoc


class SubnetDoc(msgspec.Struct):
    """An entry of ``GET /v1/subnets``: one model subnetwork (paper §IV.C)."""

    name: str
    model: str
    scheme: str
    aggregator: str
    reputation: str
    validation: str
    #: hex public keys of the chain validators that vote in it
    validators: list[str]
    trainers: int
    version: int
    round: int


__all__ = [
    "RoundDoc",
    "RoundUpdateDoc",
    "SubnetDoc",
    "TrainerDoc",
    "ValidationScoresDoc",
    "VersionDoc",
    "VersionListItemDoc",
]
