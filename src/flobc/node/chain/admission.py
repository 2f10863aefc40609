"""Transaction admission: checks a transaction and its blobs into the mempool once.

Also remembers recently committed transaction hashes, so duplicates are refused from
memory. While the ledger holds no more than :data:`RECENT_TXS` transactions, the memory
holds all of them (loaded from the block store at start), and a transaction it does not
know is not committed: no block store lookup per admitted or proposed transaction.
"""

from __future__ import annotations

import logging
from collections import deque

from flobc.app.abci import TxCheck
from flobc.chain.types import Block, SignedTx, tx_hash
from flobc.encoding import DecodeError, decode, sha256
from flobc.node.chain.context import NodeContext
from flobc.node.mempool import Mempool

log = logging.getLogger("flobc.node")

#: How many recently committed transaction hashes are kept in memory for duplicate checks.
RECENT_TXS = 200_000


class GivenBlobs:
    """The blobs that came with a submission or a gossip message, hashed once, and only
    when a transaction needs one: the key-value app needs none, and a gossip message of
    many transactions shares its blobs (SHA-256 of a 5 MB blob is ~7-12 ms here)."""

    def __init__(self, blobs: list[bytes]):
        self.blobs = blobs
        self._by_hash: dict[bytes, bytes] | None = None

    def get(self, blob_hash: bytes) -> bytes | None:
        if not self.blobs:
            return None
        if self._by_hash is None:
            self._by_hash = {sha256(b): b for b in self.blobs}
        return self._by_hash.get(blob_hash)


class TxAdmission:
    """The mempool and the rules for getting into it."""

    def __init__(self, ctx: NodeContext):
        self.ctx = ctx
        self.mempool = Mempool(ctx.config.mempool_max_txs)
        known = ctx.store.tx_hashes(RECENT_TXS)
        #: whether the recent set holds every committed transaction
        self._complete = known is not None
        self._recent_txs: set[bytes] = set(known or ())
        self._recent_order: deque[bytes] = deque(known or ())

    def admit(
        self, raw: bytes, blobs: list[bytes] | GivenBlobs, tx: SignedTx | None = None
    ) -> TxCheck:
        """Check ``raw`` (and store the blobs it references); add it to the mempool if ok.

        ``tx`` is ``raw`` already decoded, when the caller had to decode it first."""
        given = blobs if isinstance(blobs, GivenBlobs) else GivenBlobs(blobs)
        app = self.ctx.app
        if tx is None:
            try:
                tx = decode(raw, SignedTx)
            except DecodeError as exc:
                return TxCheck(400, f"malformed transaction: {exc}")
        limit = self.ctx.params.max_block_bytes
        if len(raw) > limit:
            return TxCheck(413, f"transaction of {len(raw)} bytes exceeds a block's {limit}")
        h = tx_hash(raw)
        if h in self.mempool or self.committed(h):
            return TxCheck(409, "duplicate transaction")
        if self.mempool.full():
            return TxCheck(429, "mempool full")
        check = app.check_tx(tx)
        if not check.ok:
            return check
        for need in app.required_blobs(tx):
            data = given.get(need)
            if data is not None:
                content = app.check_blob(tx, data)
                if not content.ok:
                    return content
                self.ctx.blobs.put(data)
            elif not self.ctx.blobs.has(need):
                return TxCheck(422, f"missing blob {need.hex()} (upload it with the transaction)")
        self.mempool.add(h, raw, tx)
        return check

    def committed(self, th: bytes) -> bool:
        """Whether ``th`` is on the ledger (recent commits answer from memory)."""
        if th in self._recent_txs:
            return True
        return not self._complete and self.ctx.store.has_tx(th)

    def on_commit(self, block: Block) -> None:
        """Drop the block's transactions from the pool and re-check what is left."""
        hashes = [tx_hash(raw) for raw in block.txs]
        self.mempool.remove(hashes)
        self._recent_txs.update(hashes)
        self._recent_order.extend(hashes)
        while len(self._recent_order) > RECENT_TXS:
            self._recent_txs.discard(self._recent_order.popleft())
            self._complete = False
        dropped = self.mempool.recheck(self._refusal)
        for h, why in dropped.items():
            log.info("tx %s left the mempool uncommitted: %s", h.hex(), why)

    def _refusal(self, tx: SignedTx) -> str | None:
        check = self.ctx.app.check_tx(tx)
        return None if check.ok else f"{check.code} {check.message}"
