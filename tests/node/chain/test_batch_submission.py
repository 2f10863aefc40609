"""A batch of client transactions: each checked on its own, in order, and the admitted
ones sent to the peers as one gossip message (one per ``max_block_txs`` of them)."""

from __future__ import annotations

from typing import Any

import msgspec

from flobc.app.abci import TxCheck
from flobc.app.kvstore import kv_tx
from flobc.chain.types import SignedTx, tx_hash
from flobc.crypto.keys import KeyPair
from flobc.encoding import sha256
from flobc.node.process import Broadcast
from flobc.node.validator import ValidatorNode
from flobc.node.wire import TxGossip
from flobc.sim.ledger import SIM_PARAMS, SimLedger

CLIENT = KeyPair.from_seed(sha256(b"batch client"))


def submit_batch(ledger: SimLedger, i: int, txs: list[SignedTx]) -> tuple[list[TxCheck], list[Any]]:
    seen: list[Any] = []

    def call(node: ValidatorNode, now: int) -> list[Any]:
        checks, actions = node.submit_txs([(t.encoded(), t, []) for t in txs], now)
        seen.append(checks)
        seen.extend(actions)
        return actions

    ledger.cluster.call(ledger.ids[i], call)
    return seen[0], seen[1:]


def all_committed(ledger: SimLedger, hashes: set[bytes], timeout_ms: int) -> bool:
    deadline = ledger.cluster.now + timeout_ms
    while ledger.cluster.now < deadline:
        if all(ledger.node(i).store.has_tx(h) for h in hashes for i in range(4)):
            return True
        ledger.run_for(50)
    return False


def gossip(actions: list[Any]) -> list[TxGossip]:
    return [a.msg for a in actions if isinstance(a, Broadcast) and isinstance(a.msg, TxGossip)]


def test_each_tx_checked_alone_and_the_admitted_ones_gossiped_once() -> None:
    ledger = SimLedger(4, seed=3)
    ledger.run_for(300)
    chain = ledger.genesis.chain_id
    good = [kv_tx(chain, CLIENT, f"k{n}", "v", n) for n in range(1, 6)]
    forged = msgspec.structs.replace(kv_tx(chain, CLIENT, "f", "v", 9), signature=b"\0" * 64)
    batch = [good[0], good[1], forged, good[1], *good[2:]]
    checks, actions = submit_batch(ledger, 0, batch)
    assert [c.code for c in checks] == [0, 0, 401, 409, 0, 0, 0]
    [msg] = gossip(actions)
    assert msg.txs == [t.encoded() for t in good]
    hashes = {tx_hash(t.encoded()) for t in good}
    assert all_committed(ledger, hashes, 5000)
    assert not any(ledger.node(i).store.has_tx(tx_hash(forged.encoded())) for i in range(4))


def test_nothing_admitted_means_nothing_sent() -> None:
    ledger = SimLedger(4, seed=3)
    ledger.run_for(300)
    forged = msgspec.structs.replace(
        kv_tx(ledger.genesis.chain_id, CLIENT, "f", "v", 1), signature=b"\0" * 64
    )
    checks, actions = submit_batch(ledger, 0, [forged])
    assert [c.code for c in checks] == [401] and gossip(actions) == []
    assert len(ledger.node(0).mempool) == 0


def test_a_batch_larger_than_a_block_is_gossiped_in_block_sized_messages() -> None:
    params = msgspec.structs.replace(SIM_PARAMS, max_block_txs=3)
    ledger = SimLedger(4, seed=3, params=params)
    ledger.run_for(300)
    chain = ledger.genesis.chain_id
    # one signer each: the simulator may deliver the three messages out of order, and a
    # block holding a signer's later nonce makes its earlier ones stale (the kv app's rule)
    keys = [KeyPair.from_seed(sha256(b"batch %d" % n)) for n in range(7)]
    txs = [kv_tx(chain, k, f"k{n}", "v", 1) for n, k in enumerate(keys)]
    checks, actions = submit_batch(ledger, 1, txs)
    assert all(c.ok for c in checks)
    assert [len(m.txs) for m in gossip(actions)] == [3, 3, 1]
    hashes = {tx_hash(t.encoded()) for t in txs}
    assert all_committed(ledger, hashes, 10_000)
