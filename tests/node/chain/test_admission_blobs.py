"""The blobs that come with transactions are hashed only when a transaction needs one,
and once per submission or gossip message, however many transactions it carries."""

from __future__ import annotations

from typing import Any

import pytest

from flobc.app.kvstore import KVStoreApp, kv_tx
from flobc.chain.genesis import Genesis
from flobc.chain.types import SignedTx, tx_hash
from flobc.chain.validators import Validator
from flobc.crypto.keys import KeyPair
from flobc.encoding import sha256
from flobc.node.chain import admission
from flobc.node.consensus_log import ConsensusLog
from flobc.node.validator import ValidatorNode
from flobc.node.wire import TxGossip
from flobc.sim.ledger import SIM_PARAMS, Disk, sim_keys

KEYS = sim_keys(4, 0, "admission blobs")
GENESIS = Genesis("blobs", 1_000_000, [Validator(k.public_key) for k in KEYS], SIM_PARAMS, {})
NOW = GENESIS.genesis_time_ms + 10


class AttachmentKV(KVStoreApp):
    """Every transaction references the blob ``b"attachment" + body``."""

    def required_blobs(self, tx: SignedTx) -> tuple[bytes, ...]:
        return (sha256(b"attachment" + tx.body),)


def validator(app: KVStoreApp) -> ValidatorNode:
    disk = Disk()
    clog = ConsensusLog(disk.wal, disk.guard, me=0, chain_id=GENESIS.chain_id)
    return ValidatorNode(
        GENESIS, KEYS[0], app, store=disk.store, blobs=disk.blobs, consensus_log=clog
    )


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []

    def counting(data: bytes) -> bytes:
        sizes.append(len(data))
        return sha256(data)

    monkeypatch.setattr(admission, "sha256", counting)
    return sizes


def test_blobs_no_transaction_needs_are_not_hashed(hashed: list[int]) -> None:
    node = validator(KVStoreApp(GENESIS.chain_id))
    node.start(NOW)
    tx = kv_tx(GENESIS.chain_id, KeyPair.generate(), "k", "v", 1)
    check, _ = node.submit_tx(tx.encoded(), [b"x" * 100_000], NOW + 1)
    assert check.ok and hashed == []


def test_a_gossip_messages_blobs_are_hashed_once_for_all_its_txs(hashed: list[int]) -> None:
    node = validator(AttachmentKV(GENESIS.chain_id))
    node.start(NOW)
    txs = [kv_tx(GENESIS.chain_id, KeyPair.generate(), f"k{i}", "v", 1) for i in range(3)]
    blobs = [b"attachment" + t.body for t in txs]
    node.on_message(KEYS[1].node_id, TxGossip([t.encoded() for t in txs], blobs), NOW + 1)
    assert all(tx_hash(t.encoded()) in node.mempool for t in txs)
    assert sorted(hashed) == sorted(len(b) for b in blobs)
    assert all(node.blobs.has(sha256(b)) for b in blobs)


def test_a_missing_blob_is_still_refused(hashed: Any) -> None:
    node = validator(AttachmentKV(GENESIS.chain_id))
    node.start(NOW)
    tx = kv_tx(GENESIS.chain_id, KeyPair.generate(), "k", "v", 1)
    check, _ = node.submit_tx(tx.encoded(), [b"not the attachment"], NOW + 1)
    assert check.code == 422 and "missing blob" in check.message
