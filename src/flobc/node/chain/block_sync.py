"""Block sync: a node that fell behind fetches committed blocks (with their certificates)
from a peer that is ahead, verifies them and executes them without running consensus.
"""

from __future__ import annotations

import logging
from typing import Any

from flobc.chain.types import CommittedBlock
from flobc.chain.validators import CommitError
from flobc.chain.verify import BlockError
from flobc.node.chain.block_check import BlockChecker
from flobc.node.chain.consensus_driver import ConsensusDriver
from flobc.node.chain.context import NodeContext
from flobc.node.chain.data_availability import BLOBS_PER_REQUEST, BlobFetcher
from flobc.node.errors import FatalNodeError
from flobc.node.process import Action, Send
from flobc.node.wire import BlobRequest, BlockRequest, BlockResponse

log = logging.getLogger("flobc.node")


class BlockSync:
    """Tracks peer heights; asks for, serves and applies committed blocks."""

    def __init__(
        self,
        ctx: NodeContext,
        driver: ConsensusDriver,
        checker: BlockChecker,
        fetcher: BlobFetcher,
    ):
        self.ctx = ctx
        self.driver = driver
        self.checker = checker
        self.fetcher = fetcher
        self.peer_heights: dict[str, int] = {}
        #: a verified synced block waiting for its blobs
        self._synced: CommittedBlock | None = None

    def behind_check(self, peer: str, peer_height: int) -> list[Action]:
        """Ask ``peer`` for our current height's block when it is already past it."""
        if peer_height > self.driver.height and peer in self.ctx.peers:
            return [Send(peer, BlockRequest(self.driver.height))]
        return []

    def on_status(self, sender: str, height: int) -> list[Action]:
        self.peer_heights[sender] = height
        return self.behind_check(sender, height)

    def serve(self, sender: str, msg: BlockRequest) -> list[Action]:
        cb = self.ctx.store.committed_block(msg.height)
        return [Send(sender, BlockResponse(cb))] if cb is not None else []

    def on_block(self, sender: str, cb: CommittedBlock) -> list[Action]:
        """Verify and execute ``cb`` if it is the block of our current height."""
        ctx, block = self.ctx, cb.block
        if block.height != self.driver.height:
            return []
        try:
            ctx.vset.verify_commit(ctx.chain_id, cb.commit, block.height, block.hash)
            if block.header.app_hash != ctx.app.info()[1]:
                raise FatalNodeError(
                    f"app hash divergence at height {block.height - 1}: ours "
                    f"{ctx.app.info()[1].hex()}, committed {block.header.app_hash.hex()}"
                )
            txs = self.checker.check(block)
        except (CommitError, BlockError) as exc:
            log.warning("rejected synced block %d from %s: %s", block.height, sender, exc)
            return []
        missing = self.fetcher.missing(txs)
        if missing:
            self._synced = cb
            return [Send(sender, BlobRequest(sorted(missing)[:BLOBS_PER_REQUEST]))]
        out = self.driver.commit(block, cb.commit)
        if self.peer_heights.get(sender, 0) > self.driver.height:
            out.append(Send(sender, BlockRequest(self.driver.height)))
        return out

    def retry(self) -> list[Action]:
        """Blobs arrived: apply the synced block that waited for them, if any."""
        if self._synced is None:
            return []
        cb, self._synced = self._synced, None
        return self.on_block(self.ctx.peers[0] if self.ctx.peers else "", cb)

    def status(self) -> dict[str, Any]:
        return {p: self.peer_heights.get(p) for p in self.ctx.peers}
