"""Every way a transaction leaves the mempool other than its commit: a recheck after a
block (with the reason, logged), nothing else; and a transaction larger than a block is
refused at admission, since, held at the head of the pool, it was never reaped and
stalled every transaction behind it (the validator kept committing empty blocks)."""

from __future__ import annotations

import logging

import msgspec
import pytest

from flobc.app.kvstore import kv_tx
from flobc.chain.types import SignedTx, tx_hash
from flobc.crypto.keys import KeyPair
from flobc.encoding import sha256
from flobc.node.mempool import Mempool
from flobc.node.validator import ValidatorNode
from flobc.sim.ledger import SIM_PARAMS, SimLedger

CLIENT = KeyPair.from_seed(sha256(b"mempool exits client"))
CHAIN = "exits"


def tx(nonce: int, value: str = "v") -> tuple[bytes, bytes, SignedTx]:
    t = kv_tx(CHAIN, CLIENT, f"k{nonce}", value, nonce)
    raw = t.encoded()
    return tx_hash(raw), raw, t


def test_pending_lists_every_transaction_decoded_in_arrival_order() -> None:
    pool = Mempool()
    txs = [tx(n) for n in (3, 1, 2)]
    for h, raw, t in txs:
        assert pool.add(h, raw, t)
    pool.remove([txs[1][0]])
    assert list(pool.pending()) == [(txs[0][0], txs[0][2]), (txs[2][0], txs[2][2])]


def test_recheck_drops_only_what_is_refused_and_says_why() -> None:
    pool = Mempool()
    txs = [tx(n) for n in range(1, 5)]
    for h, raw, t in txs:
        assert pool.add(h, raw, t)
    dropped = pool.recheck(lambda t: "409 stale nonce" if t.nonce <= 2 else None)
    assert dropped == {txs[0][0]: "409 stale nonce", txs[1][0]: "409 stale nonce"}
    assert len(pool) == 2 and txs[2][0] in pool and txs[3][0] in pool


def test_a_full_pool_refuses_and_never_evicts() -> None:
    pool = Mempool(max_txs=2)
    a, b, c = tx(1), tx(2), tx(3)
    assert pool.add(*a) and pool.add(*b)
    assert not pool.add(*c)
    assert a[0] in pool and b[0] in pool and c[0] not in pool


def test_reap_takes_the_oldest_that_fit_and_leaves_them() -> None:
    pool = Mempool()
    txs = [tx(n) for n in range(1, 4)]
    for item in txs:
        pool.add(*item)
    size = len(txs[0][1])
    assert pool.reap(10, 2 * size + 1) == [txs[0][1], txs[1][1]]
    assert len(pool) == 3


def test_a_tx_larger_than_a_block_is_refused_and_does_not_stall_the_pool() -> None:
    params = msgspec.structs.replace(SIM_PARAMS, max_block_bytes=2_000)
    ledger = SimLedger(4, seed=2, params=params)
    ledger.run_for(300)
    chain = ledger.genesis.chain_id
    big = kv_tx(chain, CLIENT, "big", "x" * 3_000, 1)
    check = ledger.submit(0, big)
    assert check.code == 413 and "exceeds a block" in check.message
    small = [kv_tx(chain, KeyPair.from_seed(sha256(b"s%d" % i)), "k", "v", 1) for i in range(3)]
    for t in small:
        assert ledger.submit(0, t).ok
    hashes = [tx_hash(t.encoded()) for t in small]
    deadline = ledger.cluster.now + 3_000
    while ledger.cluster.now < deadline and not all(
        ledger.node(i).store.has_tx(h) for h in hashes for i in range(4)
    ):
        ledger.run_for(50)
    assert all(ledger.node(i).store.has_tx(h) for h in hashes for i in range(4))


def test_a_recheck_drop_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    ledger = SimLedger(4, seed=4)
    ledger.run_for(300)
    chain = ledger.genesis.chain_id
    h = ledger.node(0).height
    holder = (ledger.genesis.validator_set().proposer(h, 0) + 1) % 4
    earlier, later = kv_tx(chain, CLIENT, "b", "v", 3), kv_tx(chain, CLIENT, "a", "v", 7)

    def admit_quietly(node: ValidatorNode, now: int) -> list[object]:  # no gossip
        assert node.admission.admit(earlier.encoded(), []).ok
        return []

    ledger.cluster.call(ledger.ids[holder], admit_quietly)
    assert ledger.submit((holder + 1) % 4, later).ok
    h_later, h_earlier = tx_hash(later.encoded()), tx_hash(earlier.encoded())
    with caplog.at_level(logging.INFO, logger="flobc.node"):
        deadline = ledger.cluster.now + 3_000
        while ledger.cluster.now < deadline and not ledger.node(holder).store.has_tx(h_later):
            ledger.run_for(50)
    assert ledger.node(holder).store.has_tx(h_later)
    assert h_earlier not in ledger.node(holder).mempool
    assert not ledger.node(holder).store.has_tx(h_earlier)
    [msg] = [r.getMessage() for r in caplog.records if h_earlier.hex() in r.getMessage()]
    assert "left the mempool uncommitted: 409 replayed or stale nonce" in msg
