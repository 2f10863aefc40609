"""Messages validators exchange with each other (consensus, gossip, block and blob sync)."""

from __future__ import annotations

import msgspec

from flobc.chain.types import CommittedBlock, Proposal, Vote

_MSG = {"array_like": True, "frozen": True, "forbid_unknown_fields": True}


class TxGossip(msgspec.Struct, tag="txs", **_MSG):
    """Encoded transactions, with the blobs they reference (pushed along for availability)."""

    txs: list[bytes]
    blobs: list[bytes] = []


class Status(msgspec.Struct, tag="status", **_MSG):
    """A node's current (undecided) height and round."""

    height: int
    round: int


class BlockRequest(msgspec.Struct, tag="block_req", **_MSG):
    height: int


class BlockResponse(msgspec.Struct, tag="block", **_MSG):
    block: CommittedBlock


class BlobRequest(msgspec.Struct, tag="blob_req", **_MSG):
    hashes: list[bytes]


class BlobResponse(msgspec.Struct, tag="blobs", **_MSG):
    blobs: list[bytes]


PeerMessage = (
    Proposal | Vote | TxGossip | Status | BlockRequest | BlockResponse | BlobRequest | BlobResponse
)
