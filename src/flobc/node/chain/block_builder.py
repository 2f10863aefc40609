"""Building this node's proposal from the mempool (the paper's ``getValue()``)."""

from __future__ import annotations

import msgspec

from flobc.chain.block_time import block_time
from flobc.chain.types import Block, BlockHeader, SignedTx, commit_hash, txs_root
from flobc.encoding import decode
from flobc.node.chain.context import NodeContext
from flobc.node.mempool import Mempool


def build_block(ctx: NodeContext, mempool: Mempool, height: int, round_: int) -> Block:
    """A block on top of the committed chain; the application picks which txs go in."""
    assert ctx.key is not None
    params = ctx.params
    parent = ctx.header(height - 1) if height > 1 else None
    last_commit = ctx.store.commit(height - 1) if height > 1 else None
    txs = mempool.reap(params.max_block_txs, params.max_block_bytes)
    time_ms = block_time(
        height,
        ctx.genesis.genesis_time_ms,
        parent.time_ms if parent else 0,
        last_commit,
        ctx.vset,
    )
    header = BlockHeader(
        ctx.chain_id,
        height,
        round_,
        time_ms,
        ctx.key.address,
        parent.hash if parent else b"",
        txs_root(txs),
        commit_hash(last_commit),
        ctx.app.info()[1],
        ctx.vset.hash,
    )
    keep = ctx.app.prepare_proposal(header, [decode(raw, SignedTx) for raw in txs])
    txs = [txs[i] for i in keep]
    header = msgspec.structs.replace(header, tx_root=txs_root(txs))
    return Block(header, txs, last_commit)
