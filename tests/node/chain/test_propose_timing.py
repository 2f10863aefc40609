"""When the round-0 proposer proposes: at once while transactions pend (or after
``timeout_commit_ms`` since the last commit), at the empty-block interval while none do;
and the other validators' round-0 propose timeout covers the proposer's wait: the longer
of the two while their mempool is empty, the commit wait once transactions pend (so a
crashed proposer costs ``timeout_propose`` after they arrive, not the interval)."""

from __future__ import annotations

import msgspec
import pytest

from flobc.app.kvstore import KVStoreApp, kv_tx
from flobc.chain.genesis import Genesis
from flobc.chain.types import Proposal
from flobc.chain.validators import Validator
from flobc.consensus import messages as cm
from flobc.crypto.keys import KeyPair
from flobc.encoding import sha256
from flobc.node.chain.context import NodeTimer
from flobc.node.consensus_log import ConsensusLog
from flobc.node.process import Broadcast, SetTimer
from flobc.node.validator import ValidatorNode
from flobc.sim.ledger import SIM_PARAMS, Disk, sim_keys

KEYS = sim_keys(4, 0, "timing")
CLIENT = KeyPair.from_seed(sha256(b"timing client"))
T0 = 1_000_000


def proposer(
    commit_ms: int, empty_ms: int = 200, *, other: bool = False
) -> tuple[ValidatorNode, Genesis]:
    """The round-0 proposer of height 1 (``other``: the validator after it)."""
    params = msgspec.structs.replace(
        SIM_PARAMS, timeout_commit_ms=commit_ms, empty_block_interval_ms=empty_ms
    )
    genesis = Genesis("timing", T0, [Validator(k.public_key) for k in KEYS], params, {})
    who = (genesis.validator_set().proposer(1, 0) + other) % len(KEYS)
    disk = Disk()
    node = ValidatorNode(
        genesis,
        KEYS[who],
        KVStoreApp(genesis.chain_id),
        store=disk.store,
        blobs=disk.blobs,
        consensus_log=ConsensusLog(disk.wal, disk.guard, me=who, chain_id=genesis.chain_id),
    )
    return node, genesis


def proposals(actions: list[object]) -> list[Proposal]:
    return [a.msg for a in actions if isinstance(a, Broadcast) and isinstance(a.msg, Proposal)]


def propose_timer(actions: list[object]) -> list[int]:
    return [a.at_ms for a in actions if isinstance(a, SetTimer) and a.name == NodeTimer.PROPOSE]


def submit(node: ValidatorNode, genesis: Genesis, now: int) -> list[object]:
    check, out = node.submit_tx(kv_tx(genesis.chain_id, CLIENT, "k", "v", 1).encoded(), [], now)
    assert check.ok
    return list(out)


def test_pending_txs_are_proposed_at_once_without_a_commit_wait() -> None:
    node, genesis = proposer(commit_ms=0)
    start = node.start(T0 + 10)
    assert propose_timer(start) == [T0 + 10 + 200]  # idle: the empty-block interval
    out = submit(node, genesis, T0 + 15)
    assert len(proposals(out)) == 1 and len(proposals(out)[0].block.txs) == 1


def test_timeout_commit_delays_the_proposal_and_moves_the_empty_block_timer_earlier() -> None:
    node, genesis = proposer(commit_ms=50)
    node.start(T0 + 10)
    out = submit(node, genesis, T0 + 15)
    assert proposals(out) == [] and propose_timer(out) == [T0 + 10 + 50]
    out = node.on_timer(NodeTimer.PROPOSE, T0 + 60)
    assert len(proposals(out)) == 1 and len(proposals(out)[0].block.txs) == 1


@pytest.mark.parametrize(("commit_ms", "empty_ms"), [(0, 200), (700, 200)])
def test_round_zero_propose_timeout_covers_the_proposers_wait(
    commit_ms: int, empty_ms: int
) -> None:
    node, _ = proposer(commit_ms, empty_ms)
    out = node.start(T0 + 10)
    key = cm.TimeoutKey(cm.Step.PROPOSE, 1, 0)
    [at] = [a.at_ms for a in out if isinstance(a, SetTimer) and a.name == key]
    assert at == T0 + 10 + SIM_PARAMS.timeout_propose_ms + max(commit_ms, empty_ms)


def propose_timeout(actions: list[object]) -> list[int]:
    key = cm.TimeoutKey(cm.Step.PROPOSE, 1, 0)
    return [a.at_ms for a in actions if isinstance(a, SetTimer) and a.name == key]


@pytest.mark.parametrize(("commit_ms", "submit_at", "due"), [(0, 15, 15), (50, 15, 60)])
def test_pending_txs_bring_the_round_zero_propose_timeout_forward(
    commit_ms: int, submit_at: int, due: int
) -> None:
    node, genesis = proposer(commit_ms, empty_ms=700, other=True)
    assert propose_timeout(node.start(T0 + 10)) == [T0 + 10 + SIM_PARAMS.timeout_propose_ms + 700]
    out = submit(node, genesis, T0 + submit_at)
    assert propose_timeout(out) == [T0 + due + SIM_PARAMS.timeout_propose_ms]
    assert propose_timeout(submit_second(node, genesis, T0 + submit_at + 5)) == []  # once


def test_a_crashed_proposer_costs_the_propose_timeout_after_the_tx_not_the_interval() -> None:
    node, genesis = proposer(0, empty_ms=700, other=True)
    node.start(T0 + 10)
    submit(node, genesis, T0 + 20)
    key = cm.TimeoutKey(cm.Step.PROPOSE, 1, 0)
    out = node.on_timer(key, T0 + 20 + SIM_PARAMS.timeout_propose_ms)  # L57: prevote nil
    assert [a.msg.block_hash for a in out if isinstance(a, Broadcast)] == [b""]


def submit_second(node: ValidatorNode, genesis: Genesis, now: int) -> list[object]:
    check, out = node.submit_tx(kv_tx(genesis.chain_id, CLIENT, "k2", "v", 2).encoded(), [], now)
    assert check.ok
    return list(out)
