"""Blocks acknowledged by SQLiteBlockStore.save_block survive SIGKILL of the writer, with
the fsync per commit (``FULL``) and without it (``NORMAL``, a validator's setting)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flobc.chain.store import SQLiteBlockStore
from flobc.chain.types import tx_hash
from flobc.encoding import sha256

# Appends blocks forever, printing each height once save_block has returned.
WRITER = """
import sys
from flobc.chain.store import SQLiteBlockStore
from flobc.chain.types import Block, BlockHeader, Commit, txs_root
from flobc.encoding import sha256

store = SQLiteBlockStore(sys.argv[1], synchronous=sys.argv[2])
h = store.height()
while True:
    h += 1
    txs = [b"tx %d.%d" % (h, i) for i in range(3)]
    prev = store.block_hash(h - 1) or b""
    header = BlockHeader("crash", h, 0, h, b"p" * 20, prev, txs_root(txs), b"", b"", b"")
    block = Block(header, txs, None)
    snapshot = sha256(b"%d" % h) * 2048
    store.save_block(block, Commit(h, 0, block.hash, []), sha256(b"%d" % h), snapshot)
    print(h, flush=True)
"""

ACKS_PER_RUN = 25
DEADLINE_S = 2.0


def run_and_kill(db: Path, synchronous: str) -> list[int]:
    """Start a writer, SIGKILL it after some acknowledgements; return every acked height."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), synchronous],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    acked: list[int] = []
    deadline = time.monotonic() + DEADLINE_S
    try:
        while len(acked) < ACKS_PER_RUN and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acked.append(int(line))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
        # read through the buffered reader: readline() may hold lines already read from
        # the pipe (communicate() would read past them, losing their acknowledgements)
        out, err = proc.stdout.read(), proc.stderr.read() if proc.stderr else b""
    acked += [int(x) for x in out.split()]
    assert proc.returncode == -signal.SIGKILL, err.decode()
    assert acked, f"writer acknowledged nothing: {err.decode()}"
    return acked


def check_store(db: Path, acked: list[int]) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    with SQLiteBlockStore(db) as store:
        height = store.height()
        # Everything acknowledged is there; at most one save was in flight at the kill.
        assert max(acked) <= height <= max(acked) + 1
        for h in range(1, height + 1):
            block, commit = store.block(h), store.commit(h)
            assert block is not None and commit is not None
            assert commit.block_hash == block.hash == store.block_hash(h)
            assert h == 1 or block.header.prev_hash == store.block_hash(h - 1)
            assert store.app_hash(h) == sha256(b"%d" % h)
            assert all(store.tx_location(tx_hash(t)) == (h, i) for i, t in enumerate(block.txs))
        assert store.latest_snapshot() == (height, sha256(b"%d" % height) * 2048)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
def test_acknowledged_blocks_survive_kill9(tmp_path: Path, synchronous: str) -> None:
    db = tmp_path / "blocks.db"
    first = run_and_kill(db, synchronous)
    assert first == list(range(1, len(first) + 1))
    check_store(db, first)
    second = run_and_kill(db, synchronous)  # a restarted writer continues the same chain
    assert second[0] in (max(first) + 1, max(first) + 2)
    check_store(db, second)
