"""Byzantine validators for scenario tests, as network interceptors that re-sign messages.

A Byzantine validator runs the normal node code, but what leaves it is rewritten per
receiver with its own key: it can show different blocks to different peers (conflicting
proposals) and vote for one block to some peers and another (or nil) to the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from flobc.app.kvstore import kv_tx
from flobc.chain.types import NIL, Block, Proposal, Vote, VoteType, txs_root
from flobc.crypto.keys import KeyPair
from flobc.encoding import sha256
from flobc.sim.ledger import SimLedger


class Equivocator:
    """Byzantine validators that show block Y instead of X to the ``victims``.

    Their proposals reach the victims with an alternative block, and their prevotes and
    precommits for X reach the victims as votes for Y (``nil_to_victims`` sends nil
    prevotes instead, the "prevote for a block to half the peers and nil to the rest" case).
    """

    def __init__(
        self,
        ledger: SimLedger,
        byzantine: Iterable[int],
        victims: Iterable[int],
        *,
        nil_to_victims: bool = False,
    ):
        self.ledger = ledger
        self.byz = {ledger.ids[i]: ledger.keys[i] for i in byzantine}
        self.victims = {ledger.ids[i] for i in victims}
        self.nil_to_victims = nil_to_victims
        self._alt: dict[bytes, Block] = {}
        self._client = KeyPair.from_seed(sha256(b"byzantine client"))
        self._nonce = 10**9
        ledger.set_interceptor(self)

    def __call__(self, sender: str, receiver: str, msg: Any) -> Any:
        key = self.byz.get(sender)
        if key is None or receiver not in self.victims:
            return msg
        chain_id = self.ledger.genesis.chain_id
        if isinstance(msg, Proposal):
            alt = self.alternative(msg.block)
            p = msgspec.structs.replace(msg, block=alt, signature=b"")
            return msgspec.structs.replace(p, signature=key.sign(p.message(chain_id)))
        if isinstance(msg, Vote) and msg.block_hash != NIL:
            if self.nil_to_victims and msg.kind == VoteType.PREVOTE:
                target = NIL
            elif msg.block_hash in self._alt:
                target = self._alt[msg.block_hash].hash
            else:
                return msg
            v = msgspec.structs.replace(msg, block_hash=target, signature=b"")
            return msgspec.structs.replace(v, signature=key.sign(v.message(chain_id)))
        return msg

    def alternative(self, block: Block) -> Block:
        """A different block for the same slot: one transaction more or one fewer."""
        alt = self._alt.get(block.hash)
        if alt is None:
            if block.txs:
                txs = block.txs[:-1]
            else:
                self._nonce += 1
                tx = kv_tx(self.ledger.genesis.chain_id, self._client, "byz", "y", self._nonce)
                txs = [tx.encoded()]
            header = msgspec.structs.replace(block.header, tx_root=txs_root(txs))
            alt = self._alt[block.hash] = Block(header, txs, block.last_commit)
        return alt
