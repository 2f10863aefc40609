"""Response bodies of the validator's JSON API, as msgspec structs.

The handlers build plain dicts; these structs exist so that the OpenAPI document
(:mod:`flobc.node.openapi`) derives its JSON Schemas from code with ``msgspec.json.schema``
instead of hand-written YAML, and so tests can ``msgspec.convert`` a real answer into the
struct as a second check. Fields without defaults are always present in the answer.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class ErrorDoc(msgspec.Struct):
    """Every 4xx/5xx answer: ``{"error": message}``, sometimes with extra fields."""

    error: str


class PendingErrorDoc(msgspec.Struct):
    """404 of ``GET /v1/txs/{hash}``: unknown, or still in the mempool (``pending``)."""

    error: str
    pending: bool


class StatusDoc(msgspec.Struct):
    """``GET /v1/status``."""

    node_id: str
    chain_id: str
    #: index in the validator set; null for a non-voting node
    validator_index: int | None
    height: int
    latest_block_hash: str
    app_hash: str
    round: int
    step: str
    mempool: int
    #: peer node id -> last height it reported (null: not heard from yet)
    peers: dict[str, int | None]


class HeaderDoc(msgspec.Struct):
    """A block header with byte fields as hex."""

    chain_id: str
    height: int
    round: int
    time_ms: int
    proposer: str
    prev_hash: str
    tx_root: str
    last_commit_hash: str
    app_hash: str
    validators_hash: str


class CommitSigDoc(msgspec.Struct):
    validator: int
    time_ms: int
    signature: str


class CommitDoc(msgspec.Struct):
    """The block's own commit certificate."""

    round: int
    signatures: list[CommitSigDoc]


class BlockDoc(msgspec.Struct):
    """``GET /v1/blocks/{height}``."""

    hash: str
    header: HeaderDoc
    tx_hashes: list[str]
    commit: CommitDoc


class TxAcceptedDoc(msgspec.Struct):
    """202 of a submission: the transaction is in the mempool."""

    hash: str
    status: Literal["accepted"]


class TxLocationDoc(msgspec.Struct):
    """``GET /v1/txs/{hash}`` of a committed transaction."""

    hash: str
    height: int
    index: int


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


class MetricDoc(msgspec.Struct):
    """What the validators' votes score (``training.metric``)."""

    name: str
    higher_is_better: bool


class NetworkValidatorDoc(msgspec.Struct):
    """One validator in ``GET /v1/network``."""

    index: int
    node_id: str
    #: where its HTTP API listens (empty when not known)
    url: str
    power: int
    #: whether it is the node that answered
    is_self: bool = msgspec.field(name="self")
    #: whether its ``/v1/status`` could be fetched (always true for ``self``)
    reachable: bool
    #: its height: from its status, else the height it last gossiped (null: never heard)
    height: int | None
    #: its ``/v1/status``, null when unreachable
    status: StatusDoc | None


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


class NetworkDoc(msgspec.Struct):
    """``GET /v1/network``: the validator set, each validator with its status."""

    chain_id: str
    #: the application (``"fl"``, ``"kv"``), null when the genesis names none
    app: str | None
    node_id: str
    #: null on a node without FL training settings
    metric: MetricDoc | None
    validators: list[NetworkValidatorDoc]


__all__ = [
    "BlockDoc",
    "ErrorDoc",
    "MetricDoc",
    "NetworkDoc",
    "NetworkValidatorDoc",
    "PendingErrorDoc",
    "RoundDoc",
    "RoundUpdateDoc",
    "StatusDoc",
    "SubnetDoc",
    "TrainerDoc",
    "TxAcceptedDoc",
    "TxLocationDoc",
    "ValidationScoresDoc",
    "VersionDoc",
    "VersionListItemDoc",
]
