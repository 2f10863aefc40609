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
    round_status: str


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


__all__ = [
    "BlockDoc",
    "ErrorDoc",
    "PendingErrorDoc",
    "RoundDoc",
    "StatusDoc",
    "TrainerDoc",
    "TxAcceptedDoc",
    "TxLocationDoc",
    "VersionDoc",
]
