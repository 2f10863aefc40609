"""Data availability: which blobs a block needs, fetching the missing ones, serving ours.

A transaction references its blobs (model weights) by hash; a validator may only judge a
block once it holds every blob the block references, so missing ones are asked from the
block's proposer (it had them to propose), again after :data:`BLOB_RETRY_MS`.
"""

from __future__ import annotations

from flobc.chain.types import SignedTx
from flobc.node.chain.context import NodeContext
from flobc.node.process import Action, Send
from flobc.node.wire import BlobRequest, BlobResponse

#: A missing blob is asked for again after this long.
BLOB_RETRY_MS = 1000
#: At most this many blob hashes per request (one blob per response message).
BLOBS_PER_REQUEST = 16


class BlobFetcher:
    """The blobs this node waits for, and who to ask."""

    def __init__(self, ctx: NodeContext):
        self.ctx = ctx
        #: blobs a proposal needs -> the peer to ask (its proposer); and when each was asked
        self._wanted: dict[bytes, str] = {}
        self._asked_at: dict[bytes, int] = {}

    def missing(self, txs: list[SignedTx]) -> set[bytes]:
        """The blobs ``txs`` reference that are not stored here."""
        app, blobs = self.ctx.app, self.ctx.blobs
        return {b for tx in txs for b in app.required_blobs(tx) if not blobs.has(b)}

    def want(self, hashes: set[bytes], peer: str) -> None:
        for h in hashes:
            self._wanted[h] = peer

    def requests(self) -> list[Action]:
        """Ask each proposal's proposer (it holds them) for missing blobs, once a second."""
        if not self._wanted:
            return []
        now, peers = self.ctx.now, self.ctx.peers
        by_peer: dict[str, list[bytes]] = {}
        for h, peer in sorted(self._wanted.items()):
            if now - self._asked_at.get(h, -(10**12)) >= BLOB_RETRY_MS:
                self._asked_at[h] = now
                target = peer if peer in peers else (peers[0] if peers else "")
                by_peer.setdefault(target, []).append(h)
        self._wanted.clear()
        if len(self._asked_at) > 4096:
            self._asked_at.clear()
        return [
            Send(p, BlobRequest(hs[:BLOBS_PER_REQUEST])) for p, hs in sorted(by_peer.items()) if p
        ]

    def serve(self, sender: str, msg: BlobRequest) -> list[Action]:
        # One blob per message keeps each under the message size limit.
        blobs = self.ctx.blobs
        found = [b for h in msg.hashes[:BLOBS_PER_REQUEST] if (b := blobs.get(h)) is not None]
        return [Send(sender, BlobResponse([b])) for b in found]

    def store(self, blobs: list[bytes]) -> None:
        for b in blobs:
            self.ctx.blobs.put(b)
