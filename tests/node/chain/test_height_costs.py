"""What a height costs a validator besides consensus itself: its own votes for a value
(and proposals) are appended to the write-ahead log with an fsync, nil votes without one
(the safety argument is in ``flobc.node.consensus_log``); a decided height's consensus
timers are cancelled, and a timeout of another height or round is dropped unlogged."""

from __future__ import annotations

from typing import Any

import msgspec

from flobc.app.kvstore import KVStoreApp
from flobc.chain.genesis import Genesis
from flobc.chain.types import NIL, Proposal, Vote, VoteType
from flobc.chain.validators import Validator
from flobc.consensus import messages as cm
from flobc.node.consensus_log import ConsensusLog, MemoryWAL
from flobc.node.process import Broadcast, CancelTimer, SetTimer
from flobc.node.validator import ValidatorNode
from flobc.sim.ledger import SIM_PARAMS, Disk, sim_keys

KEYS = sim_keys(4, 0, "height costs")
GENESIS = Genesis("costs", 1_000_000, [Validator(k.public_key) for k in KEYS], SIM_PARAMS, {})
NOW = GENESIS.genesis_time_ms + 10
ME = 0
PROPOSER = GENESIS.validator_set().proposer(1, 0)
ids = [k.node_id for k in KEYS]


class SyncRecordingWAL(MemoryWAL):
    """A memory log that remembers whether each append asked for an fsync."""

    def __init__(self) -> None:
        super().__init__()
        self.syncs: list[bool] = []

    def append(self, payload: bytes, *, sync: bool) -> None:
        super().append(payload, sync=sync)
        self.syncs.append(sync)


def validator(wal: MemoryWAL) -> ValidatorNode:
    disk = Disk(wal=wal)
    clog = ConsensusLog(wal, disk.guard, me=ME, chain_id=GENESIS.chain_id)
    app = KVStoreApp(GENESIS.chain_id)
    return ValidatorNode(
        GENESIS, KEYS[ME], app, store=disk.store, blobs=disk.blobs, consensus_log=clog
    )


def signed_vote(kind: VoteType, i: int, block_hash: bytes, round_: int = 0) -> Vote:
    v = Vote(int(kind), 1, round_, block_hash, NOW + 1, i)
    return msgspec.structs.replace(v, signature=KEYS[i].sign(v.message(GENESIS.chain_id)))


def own_votes(actions: list[Any]) -> list[Vote]:
    return [
        a.msg
        for a in actions
        if isinstance(a, Broadcast) and isinstance(a.msg, Vote) and a.msg.validator == ME
    ]


def proposal(node: ValidatorNode) -> Proposal:
    proposer = validator(MemoryWAL())
    block = proposer.driver.build_block(1, 0)
    block = msgspec.structs.replace(
        block,
        header=msgspec.structs.replace(block.header, proposer=KEYS[PROPOSER].address),
    )
    p = Proposal(1, 0, -1, block, PROPOSER)
    return msgspec.structs.replace(p, signature=KEYS[PROPOSER].sign(p.message(GENESIS.chain_id)))


def test_nil_votes_skip_the_fsync_and_votes_for_a_value_keep_it() -> None:
    wal = SyncRecordingWAL()
    n = validator(wal)
    n.start(NOW)
    out = n.on_timer(cm.TimeoutKey(cm.Step.PROPOSE, 1, 0), NOW + 2000)  # L57
    assert [v.block_hash for v in own_votes(out)] == [NIL]
    assert wal.syncs[-2:] == [False, False]  # the timeout, then the own nil prevote
    for i in (1, 2):  # a polka for nil: L44, precommit nil
        out = n.on_message(ids[i], signed_vote(VoteType.PREVOTE, i, NIL), NOW + 2001)
    assert [(v.kind, v.block_hash) for v in own_votes(out)] == [(VoteType.PRECOMMIT, NIL)]
    assert not any(wal.syncs)

    wal = SyncRecordingWAL()
    n = validator(wal)
    n.start(NOW)
    p = proposal(n)
    out = n.on_message(ids[PROPOSER], p, NOW + 1)
    assert [v.block_hash for v in own_votes(out)] == [p.block.hash]  # L22: prevote v
    assert wal.syncs[-1] is True
    for i in (1, 2):  # L36: lock and precommit v
        out = n.on_message(ids[i], signed_vote(VoteType.PREVOTE, i, p.block.hash), NOW + 2)
    assert [(v.kind, v.block_hash) for v in own_votes(out)] == [(VoteType.PRECOMMIT, p.block.hash)]
    assert wal.syncs[-1] is True


def test_a_decided_heights_timers_are_cancelled_and_stale_timeouts_not_logged() -> None:
    wal = SyncRecordingWAL()
    n = validator(wal)
    started = n.start(NOW)
    p = proposal(n)
    actions = started + n.on_message(ids[PROPOSER], p, NOW + 1)
    for i in (1, 2):
        actions += n.on_message(ids[i], signed_vote(VoteType.PREVOTE, i, p.block.hash), NOW + 2)
    for i in (1, 2):
        actions += n.on_message(ids[i], signed_vote(VoteType.PRECOMMIT, i, p.block.hash), NOW + 3)
    assert n.height == 2
    set_at_1 = {
        a.name
        for a in actions
        if isinstance(a, SetTimer) and isinstance(a.name, cm.TimeoutKey) and a.name.height == 1
    }
    cancelled = {a.name for a in actions if isinstance(a, CancelTimer)}
    assert set_at_1 == cancelled
    assert cm.TimeoutKey(cm.Step.PROPOSE, 1, 0) in cancelled
    assert cm.TimeoutKey(cm.Step.PREVOTE, 1, 0) in cancelled  # L34 fired at the polka
    records = len(wal.syncs)
    assert n.on_timer(cm.TimeoutKey(cm.Step.PREVOTE, 1, 0), NOW + 500) == []
    assert n.on_timer(cm.TimeoutKey(cm.Step.PROPOSE, 2, 3), NOW + 500) == []  # not this round
    assert len(wal.syncs) == records
    out = n.on_timer(cm.TimeoutKey(cm.Step.PROPOSE, 2, 0), NOW + 5000)  # this round's: L57
    assert [v.block_hash for v in own_votes(out)] == [NIL] and len(wal.syncs) == records + 2
