"""An FL ledger killed with SIGKILL between two snapshots loses nothing: a restart restores
the last snapshot and replays the stored blocks after it, to the stored app hashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flobc.app.abci import replay
from flobc.app.fl.app import FLApp
from flobc.app.fl.txs import UPDATE
from flobc.chain.blobs import FileBlobStore
from flobc.chain.store import SQLiteBlockStore
from flobc.chain.types import SignedTx
from flobc.encoding import decode
from flobc.sim.fl_fixtures import AppDriver

INTERVAL = 7

# Runs FL rounds (updates, votes, deadline) on durable stores, printing each height once
# save_block has returned; after printing height STOP it waits to be killed. On start it
# replays the stored chain, as a restarted validator does.
WRITER = """
import sys, time
import msgspec, numpy as np
from flobc.app.abci import replay
from flobc.app.fl.app import FLApp
from flobc.chain.blobs import FileBlobStore
from flobc.chain.store import SQLiteBlockStore
from flobc.chain.types import Block, Commit, txs_root
from flobc.sim.fl_fixtures import AppDriver

root, stop, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = AppDriver(trainers=2)
d.blobs = FileBlobStore(root + "/blobs")
d.blobs.put(d.initial.tobytes())
store = SQLiteBlockStore(root + "/chain.db")
d.app = FLApp(d.genesis, d.blobs, snapshot_interval=interval)
replay(d.app, store)
d.height = store.height()
if d.height:
    d.time_ms = store.block(d.height).header.time_ms
prev = store.block_hash(d.height) or b""
rng = np.random.default_rng(d.height)

def block(txs, at_ms):
    global prev
    raw = [tx.encoded() for tx in txs]
    header = msgspec.structs.replace(d.header(at_ms), prev_hash=prev, tx_root=txs_root(raw))
    res = d.app.finalize_block(header, txs)
    assert all(r.code == 0 for r in res.tx_results), res.tx_results
    snap = d.app.commit()
    b = Block(header, raw, None)
    store.save_block(b, Commit(header.height, 0, b.hash, []), res.app_hash, snap)
    prev, d.height, d.time_ms = b.hash, header.height, at_ms
    print(header.height, flush=True)
    if header.height == stop:
        time.sleep(600)

if d.app.live.updates:  # killed mid-round: close it first
    block([], max(d.deadline_ms, d.time_ms + 1))
while True:
    live = d.app.live
    ups = [
        d.update(i, rng.normal(0, 0.1, 8), nonce=live.trainers[d.tid(i)].nonce + 1)[0]
        for i in range(2)
    ]
    block(ups, d.time_ms + 100)
    block([v for u in ups for v in d.votes(u, [0.1, 0.2, 0.3])], d.time_ms + 100)
    block([], max(d.deadline_ms, d.time_ms + 1))
"""


def run_until(root: Path, stop: int) -> list[int]:
    """Run the writer until it acknowledges height ``stop``, then SIGKILL it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), str(stop), str(INTERVAL)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    acked: list[int] = []
    try:
        for line in proc.stdout:
            acked.append(int(line))
            if acked[-1] == stop:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    assert acked and acked[-1] == stop, err.decode()
    return acked


def check_restart(root: Path, acked: list[int]) -> FLApp:
    """A fresh app on the stores recovers every acknowledged block and its app hash."""
    driver = AppDriver(trainers=2)  # the same genesis as the writer's
    with SQLiteBlockStore(root / "chain.db") as store:
        height = store.height()
        assert height == acked[-1]
        snap = store.latest_snapshot()
        assert snap is not None and snap[0] == height // INTERVAL * INTERVAL < height
        app = FLApp(driver.genesis, FileBlobStore(root / "blobs"), snapshot_interval=INTERVAL)
        assert replay(app, store) == height - snap[0]  # the snapshot, then the blocks after
        assert app.info() == (height, store.app_hash(height))
        # every update on the chain is readable, live or from the history
        seen = 0
        for h in range(1, height + 1):
            block = store.block(h)
            assert block is not None
            for raw in block.txs:
                tx = decode(raw, SignedTx)
                if tx.kind == UPDATE:
                    assert tx.hash.hex() in app.state.updates
                    seen += 1
        assert seen >= 2 * (height // 3)
    return app


@pytest.mark.timeout(120)
def test_a_killed_fl_ledger_restarts_between_snapshots_and_loses_nothing(tmp_path: Path) -> None:
    first = run_until(tmp_path, 17)  # snapshot at 14: three blocks to replay
    assert first == list(range(1, 18))
    app = check_restart(tmp_path, first)
    released = app.state.version.version
    assert released >= 4 and len(app.state.versions) == released + 1
    second = run_until(tmp_path, 30)  # the writer itself replays, then goes on
    assert second[0] in (18, 19)
    again = check_restart(tmp_path, second)
    assert again.state.version.version > released
    assert list(again.state.versions)[: released + 1] == list(app.state.versions)
