"""A block store that lags the consensus log (its last saves lost with the power, as a
``synchronous=NORMAL`` store may) catches up on restart: the node decides those heights
again from the logged inputs and ends in the state it had before the crash."""

from __future__ import annotations

from flobc.app.kvstore import KVStoreApp, kv_tx
from flobc.chain.store import MemoryBlockStore
from flobc.consensus.sign_guard import SignGuard
from flobc.crypto.keys import KeyPair
from flobc.encoding import sha256
from flobc.node.consensus_log import ConsensusLog
from flobc.node.process import Broadcast
from flobc.node.validator import ValidatorNode
from flobc.sim.ledger import SimLedger

LAG = 3


def test_restart_decides_the_lost_heights_again_from_the_log() -> None:
    ledger = SimLedger(4, seed=11)
    client = KeyPair.from_seed(sha256(b"lag client"))
    for nonce in range(1, 9):
        assert ledger.submit(
            nonce % 4, kv_tx(ledger.genesis.chain_id, client, f"k{nonce}", "v", nonce)
        ).ok
        ledger.run_for(60)
    ledger.run_for(300)
    disk = ledger.disks[ledger.ids[0]]
    live = ledger.node(0)
    top = disk.store.height()
    assert top > LAG + 1
    ledger.crash(0)

    lagging = MemoryBlockStore()  # what survived: every block but the last LAG
    for h in range(1, top - LAG + 1):
        cb = disk.store.committed_block(h)
        assert cb is not None
        lagging.save_block(cb.block, cb.commit, disk.store.app_hash(h) or b"", None)
    node = ValidatorNode(
        ledger.genesis,
        ledger.keys[0],
        KVStoreApp(ledger.genesis.chain_id),
        store=lagging,
        blobs=disk.blobs,
        consensus_log=ConsensusLog(
            disk.wal, SignGuard(None), me=0, chain_id=ledger.genesis.chain_id
        ),
    )
    out = node.start(ledger.cluster.now)

    assert lagging.height() == top
    for h in range(top - LAG + 1, top + 1):
        assert lagging.block_hash(h) == disk.store.block_hash(h)
        assert lagging.app_hash(h) == disk.store.app_hash(h)
    assert node.app.info() == live.app.info()
    assert node.consensus.state() == live.consensus.state()
    assert node.consensus.own_messages() == live.consensus.own_messages()
    # nothing is signed anew for the heights decided again
    assert not [a for a in out if isinstance(a, Broadcast) and a.msg.height <= top]
