"""Ledger data types: transactions, blocks, votes, proposals and commit certificates.

All are array-like msgspec Structs, so their canonical encoding is fixed by field order.
Hashes are SHA-256 of that encoding; signatures cover :func:`flobc.encoding.sign_bytes`
with a per-purpose domain tag and the chain id.
"""

from __future__ import annotations

import functools
from enum import IntEnum

import msgspec

from flobc.crypto.keys import KeyPair, verify
from flobc.crypto.merkle import merkle_root
from flobc.encoding import encode, hash_obj, sha256, sign_bytes

NIL = b""  # the nil block hash in votes

_STRUCT = {"array_like": True, "frozen": True, "forbid_unknown_fields": True}


class SignedTx(msgspec.Struct, **_STRUCT):
    """A transaction: an application payload signed by its sender.

    ``kind`` names the application operation, ``body`` is its encoded payload, and
    ``nonce`` makes each transaction unique per signer (replays are rejected by the app).
    """

    kind: str
    body: bytes
    signer: bytes
    nonce: int
    signature: bytes = b""

    def message(self, chain_id: str) -> bytes:
        return sign_bytes("flobc/tx", chain_id, self.kind, self.body, self.signer, self.nonce)

    @classmethod
    def create(cls, chain_id: str, key: KeyPair, kind: str, body: bytes, nonce: int) -> SignedTx:
        unsigned = cls(kind, body, key.public_key, nonce)
        return msgspec.structs.replace(unsigned, signature=key.sign(unsigned.message(chain_id)))

    def verify(self, chain_id: str) -> bool:
        return verify(self.signer, self.message(chain_id), self.signature)

    def encoded(self) -> bytes:
        return encode(self)

    @property
    def hash(self) -> bytes:
        return hash_obj(self)


def tx_hash(raw: bytes) -> bytes:
    """Hash of an encoded transaction as it travels and sits in blocks."""
    return sha256(raw)


class VoteType(IntEnum):
    PREVOTE = 1
    PRECOMMIT = 2


class Vote(msgspec.Struct, tag="vote", **_STRUCT):
    """A prevote or precommit for ``block_hash`` (``NIL`` for nil) at (height, round)."""

    kind: int  # VoteType
    height: int
    round: int
    block_hash: bytes
    time_ms: int
    validator: int  # index in the validator set
    signature: bytes = b""

    def message(self, chain_id: str) -> bytes:
        return sign_bytes(
            "flobc/vote",
            chain_id,
            self.kind,
            self.height,
            self.round,
            self.block_hash,
            self.time_ms,
            self.validator,
        )


class CommitSig(msgspec.Struct, **_STRUCT):
    """One precommit inside a commit certificate."""

    validator: int
    time_ms: int
    signature: bytes


class Commit(msgspec.Struct, **_STRUCT):
    """A commit certificate: precommits from more than 2/3 of voting power for one block."""

    height: int
    round: int
    block_hash: bytes
    signatures: list[CommitSig]

    def votes(self) -> list[Vote]:
        """The precommits this certificate stands for."""
        return [
            Vote(
                VoteType.PRECOMMIT,
                self.height,
                self.round,
                self.block_hash,
                s.time_ms,
                s.validator,
                s.signature,
            )
            for s in self.signatures
        ]


class BlockHeader(msgspec.Struct, dict=True, **_STRUCT):
    """Block header. ``app_hash`` is the application state after the *previous* block.

    Its hash (the block's hash) is computed once per instance (``dict=True`` gives the
    frozen struct room for the cached value; it is not encoded): a height asked for it
    on every proposal check, vote tally, verdict and save, each an encode and a SHA-256.
    """

    chain_id: str
    height: int
    round: int
    time_ms: int
    proposer: bytes  # address of the proposer
    prev_hash: bytes
    tx_root: bytes
    last_commit_hash: bytes
    app_hash: bytes
    validators_hash: bytes

    @functools.cached_property
    def hash(self) -> bytes:
        return hash_obj(self)


class Block(msgspec.Struct, **_STRUCT):
    """A block: header, encoded transactions, and the commit certificate of its parent."""

    header: BlockHeader
    txs: list[bytes]
    last_commit: Commit | None

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @property
    def height(self) -> int:
        return self.header.height


def txs_root(txs: list[bytes]) -> bytes:
    return merkle_root([tx_hash(t) for t in txs])


def commit_hash(commit: Commit | None) -> bytes:
    return hash_obj(commit) if commit is not None else sha256(b"")


class Proposal(msgspec.Struct, tag="proposal", **_STRUCT):
    """A proposer's block for (height, round); ``pol_round`` is Tendermint's validRound or -1."""

    height: int
    round: int
    pol_round: int
    block: Block
    validator: int
    signature: bytes = b""

    def message(self, chain_id: str) -> bytes:
        return sign_bytes(
            "flobc/proposal",
            chain_id,
            self.height,
            self.round,
            self.pol_round,
            self.block.hash,
            self.validator,
        )


class CommittedBlock(msgspec.Struct, **_STRUCT):
    """A block with the commit certificate that finalised it (what block sync ships)."""

    block: Block
    commit: Commit
