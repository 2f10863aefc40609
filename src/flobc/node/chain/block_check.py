"""The node's ``valid(v)``: a block checked against committed state and the application.

Deterministic given the committed chain, the application state and the blobs held, so
every correct validator reaches the same verdict; ``PENDING`` while blobs are missing.
"""

from __future__ import annotations

import logging

from flobc.chain.types import Block, SignedTx, tx_hash
from flobc.chain.verify import BlockError, verify_block
from flobc.consensus.messages import Validity
from flobc.encoding import DecodeError, decode
from flobc.node.chain.admission import TxAdmission
from flobc.node.chain.context import NodeContext
from flobc.node.chain.data_availability import BlobFetcher

log = logging.getLogger("flobc.node")


class BlockChecker:
    """Checks proposals (for consensus) and synced blocks (for catch-up)."""

    def __init__(self, ctx: NodeContext, admission: TxAdmission, fetcher: BlobFetcher):
        self.ctx = ctx
        self.admission = admission
        self.fetcher = fetcher

    def check(self, block: Block) -> list[SignedTx]:
        """Everything but data availability and the app's verdict; raise BlockError."""
        ctx = self.ctx
        h = block.header.height
        verify_block(
            block,
            chain_id=ctx.chain_id,
            vset=ctx.vset,
            genesis_time_ms=ctx.genesis.genesis_time_ms,
            parent=ctx.header(h - 1) if h > 1 else None,
            app_hash=ctx.app.info()[1],
            max_txs=ctx.params.max_block_txs,
            max_bytes=ctx.params.max_block_bytes,
        )
        txs: list[SignedTx] = []
        seen: set[bytes] = set()
        for raw in block.txs:
            th = tx_hash(raw)
            if th in seen or self.admission.committed(th):
                raise BlockError("duplicate or already committed transaction")
            seen.add(th)
            try:
                txs.append(decode(raw, SignedTx))
            except DecodeError as exc:
                raise BlockError(f"malformed transaction: {exc}") from exc
        return txs

    def validate(self, block: Block) -> Validity:
        """``valid(block)``; missing blobs are queued for fetching from its proposer."""
        try:
            txs = self.check(block)
        except BlockError as exc:
            log.info("invalid proposal at %d: %s", block.header.height, exc)
            return Validity.INVALID
        missing = self.fetcher.missing(txs)
        if missing:
            self.fetcher.want(missing, block.header.proposer.hex())
            return Validity.PENDING
        ok = self.ctx.app.process_proposal(block.header, txs)
        return Validity.VALID if ok else Validity.INVALID
