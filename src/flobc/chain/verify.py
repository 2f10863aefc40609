"""Stateless-to-the-app checks of a block against its parent: linkage, time, certificates."""

from __future__ import annotations

from flobc.chain.block_time import block_time
from flobc.chain.types import Block, BlockHeader, commit_hash, txs_root
from flobc.chain.validators import CommitError, ValidatorSet


class BlockError(ValueError):
    """A block that must not be voted for or applied."""


def verify_block(
    block: Block,
    *,
    chain_id: str,
    vset: ValidatorSet,
    genesis_time_ms: int,
    parent: BlockHeader | None,
    app_hash: bytes,
    max_txs: int,
    max_bytes: int,
) -> None:
    """Raise :class:`BlockError` unless ``block`` may follow ``parent`` (None for height 1)."""
    h = block.header
    height = 1 if parent is None else parent.height + 1
    if h.chain_id != chain_id:
        raise BlockError("wrong chain id")
    if h.height != height:
        raise BlockError(f"wrong height {h.height}, expected {height}")
    expected_proposer = vset[vset.proposer(h.height, h.round)].address
    if h.round < 0 or h.proposer != expected_proposer:
        raise BlockError("proposer is not the proposer of that round")
    if h.prev_hash != (parent.hash if parent else b""):
        raise BlockError("does not link to its parent")
    if h.validators_hash != vset.hash:
        raise BlockError("wrong validator set hash")
    if h.app_hash != app_hash:
        raise BlockError("wrong app hash")
    if len(block.txs) > max_txs or sum(len(t) for t in block.txs) > max_bytes:
        raise BlockError("block too large")
    if h.tx_root != txs_root(block.txs):
        raise BlockError("wrong transaction Merkle root")
    if h.last_commit_hash != commit_hash(block.last_commit):
        raise BlockError("wrong last-commit hash")
    if parent is None:
        if block.last_commit is not None:
            raise BlockError("first block carries a last commit")
    else:
        if block.last_commit is None:
            raise BlockError("missing last commit")
        try:
            vset.verify_commit(chain_id, block.last_commit, parent.height, parent.hash)
        except CommitError as exc:
            raise BlockError(f"bad last commit: {exc}") from exc
    expected_time = block_time(
        h.height, genesis_time_ms, parent.time_ms if parent else 0, block.last_commit, vset
    )
    if h.time_ms != expected_time:
        raise BlockError(f"block time {h.time_ms} is not the BFT time {expected_time}")
