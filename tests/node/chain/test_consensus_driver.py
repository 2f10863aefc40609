"""The node answers the state machine's validity requests: held back while blobs are
missing, logged in the write-ahead log, taken from the log (not recomputed) on restart,
and asked again when a crash came before the verdict was logged.
"""

from __future__ import annotations

from typing import Any

import msgspec

from flobc.app.kvstore import KVStoreApp, kv_tx
from flobc.chain.genesis import Genesis
from flobc.chain.types import Block, Proposal, SignedTx, Vote, VoteType
from flobc.chain.validators import Validator
from flobc.consensus import messages as cm
from flobc.crypto.keys import KeyPair
from flobc.encoding import sha256
from flobc.node.chain.context import NodeTimer
from flobc.node.consensus_log import ConsensusLog, MemoryWAL
from flobc.node.process import Broadcast, Send, SetTimer
from flobc.node.validator import ValidatorNode
from flobc.node.wire import BlobRequest, BlobResponse
from flobc.sim.ledger import SIM_PARAMS, Disk, sim_keys

KEYS = sim_keys(4, 0, "driver")
GENESIS = Genesis(
    chain_id="driver",
    genesis_time_ms=1_000_000,
    validators=[Validator(k.public_key) for k in KEYS],
    consensus=SIM_PARAMS,
    app_state={},
)
CLIENT = KeyPair.from_seed(sha256(b"driver client"))
NOW = GENESIS.genesis_time_ms + 10
ME, PROPOSER = 0, 1  # the proposer of (1, 0) is validator 1


class BlobKV(KVStoreApp):
    """The KV app, but every transaction references one blob (its body's "attachment")."""

    validations = 0

    def required_blobs(self, tx: SignedTx) -> tuple[bytes, ...]:
        return (sha256(b"attachment" + tx.body),)

    def check_blob(self, tx: SignedTx, data: bytes) -> Any:
        return super().check_tx(tx)

    def process_proposal(self, header: Any, txs: list[SignedTx]) -> bool:
        BlobKV.validations += 1
        return super().process_proposal(header, txs)


def node(i: int, disk: Disk, wal: MemoryWAL | None = None) -> ValidatorNode:
    clog = ConsensusLog(wal or disk.wal, disk.guard, me=i, chain_id=GENESIS.chain_id)
    return ValidatorNode(
        GENESIS,
        KEYS[i],
        BlobKV(GENESIS.chain_id),
        store=disk.store,
        blobs=disk.blobs,
        consensus_log=clog,
    )


def proposal_with_blob() -> tuple[Proposal, bytes]:
    """The proposer's signed proposal for (1, 0) with one tx, and the blob it references."""
    tx = kv_tx(GENESIS.chain_id, CLIENT, "k", "v", 0)
    blob = b"attachment" + tx.body
    proposer = node(PROPOSER, Disk())
    check, _ = proposer.submit_tx(tx.encoded(), [blob], NOW)
    assert check.ok
    block = proposer.driver.build_block(1, 0)
    assert len(block.txs) == 1
    p = Proposal(1, 0, -1, block, PROPOSER)
    p = msgspec.structs.replace(p, signature=KEYS[PROPOSER].sign(p.message(GENESIS.chain_id)))
    return p, blob


def own_prevotes(actions: list[Any]) -> list[Vote]:
    return [
        a.msg
        for a in actions
        if isinstance(a, Broadcast) and isinstance(a.msg, Vote) and a.msg.kind == VoteType.PREVOTE
    ]


def verdicts(clog: ConsensusLog, block: Block) -> list[cm.ProposalValidity]:
    return [
        e
        for _, e in clog.replay(1)
        if isinstance(e, cm.ProposalValidity) and e.value_id == block.hash
    ]


def test_timers_are_typed_keys() -> None:
    n = node(ME, Disk())
    out = n.start(NOW)
    timers = {a.name for a in out if isinstance(a, SetTimer)}
    assert timers == {cm.TimeoutKey(cm.Step.PROPOSE, 1, 0), NodeTimer.GOSSIP}
    out = n.on_timer(cm.TimeoutKey(cm.Step.PROPOSE, 1, 0), NOW + 1000)
    assert [v.block_hash for v in own_prevotes(out)] == [b""]  # L57: prevote nil
    assert n.on_timer(("timeout", 1, 0, 1), NOW + 1000) == []  # a bare tuple names nothing


def test_missing_blob_holds_the_verdict_until_it_arrives() -> None:
    p, blob = proposal_with_blob()
    disk = Disk()
    n = node(ME, disk)
    n.start(NOW)
    out = n.on_message(KEYS[PROPOSER].node_id, p, NOW + 1)
    assert [a for a in out if isinstance(a, Send) and isinstance(a.msg, BlobRequest)] == [
        Send(KEYS[PROPOSER].node_id, BlobRequest([sha256(blob)]))
    ]
    assert not own_prevotes(out)
    assert n.consensus.validity(p.block.hash) is None
    assert verdicts(n.clog, p.block) == []

    out = n.on_message(KEYS[PROPOSER].node_id, BlobResponse([blob]), NOW + 2)
    assert [v.block_hash for v in own_prevotes(out)] == [p.block.hash]  # L22: prevote v
    assert n.consensus.validity(p.block.hash) is True
    assert verdicts(n.clog, p.block) == [cm.ProposalValidity(1, 0, p.block.hash, True)]


def test_restart_takes_the_verdict_from_the_log() -> None:
    p, blob = proposal_with_blob()
    disk = Disk()
    disk.blobs.put(blob)
    first = node(ME, disk)
    first.start(NOW)
    before = BlobKV.validations
    prevote = own_prevotes(first.on_message(KEYS[PROPOSER].node_id, p, NOW + 1))
    assert BlobKV.validations == before + 1 and len(prevote) == 1

    again = node(ME, disk)  # the crash: a fresh object on the same disk
    again.start(NOW + 50)
    assert BlobKV.validations == before + 1  # replayed, not recomputed
    assert again.consensus.validity(p.block.hash) is True
    assert again.consensus.state() == first.consensus.state()
    assert again.consensus.own_messages() == first.consensus.own_messages()


def test_restart_asks_again_for_a_verdict_the_crash_lost() -> None:
    p, blob = proposal_with_blob()
    disk = Disk()
    disk.blobs.put(blob)
    torn = MemoryWAL()  # the log as it was when the proposal was logged, before its verdict
    ConsensusLog(torn, disk.guard, me=ME, chain_id=GENESIS.chain_id).record(
        cm.ProposalReceived(p), NOW + 1
    )
    before = BlobKV.validations
    n = node(ME, disk, wal=torn)
    out = n.start(NOW + 50)
    assert BlobKV.validations == before + 1
    assert [v.block_hash for v in own_prevotes(out)] == [p.block.hash]
    assert verdicts(n.clog, p.block) == [cm.ProposalValidity(1, 0, p.block.hash, True)]
