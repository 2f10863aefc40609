"""Duplicate checks answer from memory while the ledger's transactions all fit in it
(loaded from the block store at start), and ask the store once they no longer do."""

from __future__ import annotations

from typing import Any

import pytest

from flobc.app.kvstore import KVStoreApp, kv_tx
from flobc.chain.store import MemoryBlockStore
from flobc.chain.types import tx_hash
from flobc.crypto.keys import KeyPair
from flobc.encoding import sha256
from flobc.node.chain import admission
from flobc.node.consensus_log import ConsensusLog
from flobc.node.validator import ValidatorNode
from flobc.sim.ledger import SimLedger

CLIENT = KeyPair.from_seed(sha256(b"recent client"))


class CountingStore(MemoryBlockStore):
    """A memory store that counts duplicate lookups."""

    def __init__(self, blocks: Any) -> None:
        super().__init__()
        self.lookups = 0
        for cb, app_hash in blocks:
            self.save_block(cb.block, cb.commit, app_hash, None)

    def has_tx(self, tx_hash: bytes) -> bool:
        self.lookups += 1
        return super().has_tx(tx_hash)


@pytest.fixture(scope="module")
def ledger() -> SimLedger:
    ledger = SimLedger(4, seed=5)
    for nonce in range(1, 6):
        tx = kv_tx(ledger.genesis.chain_id, CLIENT, f"k{nonce}", "v", nonce)
        assert ledger.submit(0, tx).ok
        ledger.run_for(100)
    ledger.run_for(300)
    return ledger


def restarted(ledger: SimLedger) -> tuple[ValidatorNode, CountingStore, list[bytes]]:
    disk = ledger.disks[ledger.ids[1]]
    top = disk.store.height()
    blocks = [(disk.store.committed_block(h), disk.store.app_hash(h)) for h in range(1, top + 1)]
    store = CountingStore(blocks)
    node = ValidatorNode(
        ledger.genesis,
        ledger.keys[1],
        KVStoreApp(ledger.genesis.chain_id),
        store=store,
        blobs=disk.blobs,
        consensus_log=ConsensusLog(disk.wal, disk.guard, me=1, chain_id=ledger.genesis.chain_id),
    )
    committed = [tx_hash(raw) for cb, _ in blocks for raw in cb.block.txs]
    return node, store, committed


def test_every_committed_tx_is_known_without_a_store_lookup(ledger: SimLedger) -> None:
    node, store, committed = restarted(ledger)
    assert len(committed) == 5
    assert all(node.admission.committed(th) for th in committed)
    assert not node.admission.committed(sha256(b"never submitted"))
    assert store.lookups == 0
    replay = kv_tx(ledger.genesis.chain_id, CLIENT, "k1", "v", 1).encoded()
    check, _ = node.submit_tx(replay, [], ledger.cluster.now)
    assert check.code == 409 and store.lookups == 0


def test_past_the_memory_bound_the_store_is_asked(
    ledger: SimLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admission, "RECENT_TXS", 3)
    node, store, committed = restarted(ledger)
    assert all(node.admission.committed(th) for th in committed)
    assert not node.admission.committed(sha256(b"never submitted"))
    assert store.lookups == 6  # nothing preloaded: every check went to the store
