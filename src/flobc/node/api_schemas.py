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


class TxResultDoc(msgspec.Struct):
    """One transaction of a batch: accepted into the mempool, or refused with the status
    and message a single submission would have got (``code`` and ``error``)."""

    hash: str
    status: Literal["accepted", "rejected"]
    code: int | None = None
    error: str | None = None


class TxBatchResultDoc(msgspec.Struct):
    """200 of ``POST /v1/tx-batches``: one result per submitted transaction, in order."""

    accepted: int
    results: list[TxResultDoc]


class TxLocationDoc(msgspec.Struct):
    """``GET /v1/txs/{hash}`` of a committed transaction."""

    hash: str
    height: int
    index: int


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
    "StatusDoc",
    "TxAcceptedDoc",
    "TxBatchResultDoc",
    "TxLocationDoc",
    "TxResultDoc",
]
