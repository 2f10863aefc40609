"""Gossip: transactions to every peer, and a periodic status that also un-sticks a height
(own proposal and votes are re-broadcast while the height has not moved for two ticks).
"""

from __future__ import annotations

from flobc.node.chain.admission import GivenBlobs, TxAdmission
from flobc.node.chain.consensus_driver import ConsensusDriver
from flobc.node.chain.context import NodeContext, NodeTimer
from flobc.node.process import Action, Broadcast, SetTimer
from flobc.node.wire import Status, TxGossip


class Gossip:
    def __init__(self, ctx: NodeContext, driver: ConsensusDriver, admission: TxAdmission):
        self.ctx = ctx
        self.driver = driver
        self.admission = admission
        self._stuck_ticks = 0
        self._tick_height = 0

    def start(self) -> list[Action]:
        return [SetTimer(NodeTimer.GOSSIP, self.ctx.now + self.ctx.config.gossip_interval_ms)]

    def announce(self, admitted: list[tuple[bytes, list[bytes]]]) -> list[Action]:
        """Transactions admitted here (each with its blobs) go to every peer: one message
        per ``max_block_txs`` of them (a peer admits no more than that from one message),
        not one per transaction."""
        step = self.ctx.params.max_block_txs
        out: list[Action] = []
        for i in range(0, len(admitted), step):
            chunk = admitted[i : i + step]
            blobs = [b for _, bs in chunk for b in bs]
            out.append(Broadcast(TxGossip([raw for raw, _ in chunk], blobs)))
        return out

    def on_txs(self, msg: TxGossip) -> list[Action]:
        given = GivenBlobs(msg.blobs)
        for raw in msg.txs[: self.ctx.params.max_block_txs]:
            self.admission.admit(raw, given)
        return self.driver.txs_arrived()

    def tick(self) -> list[Action]:
        consensus = self.driver.consensus
        out: list[Action] = [
            *self.start(),
            Broadcast(Status(self.driver.height, consensus.round)),
        ]
        if self._tick_height == self.driver.height:
            self._stuck_ticks += 1
            if self._stuck_ticks >= 2:
                out += [Broadcast(m) for m in consensus.own_messages()]
        else:
            self._tick_height, self._stuck_ticks = self.driver.height, 0
        return out
