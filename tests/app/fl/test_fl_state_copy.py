"""The state a block executes on is a copy-on-write copy (records shared until written)
whose app hash re-encodes only changed records: executing never touches the committed
state, and the hash equals that of the same state decoded afresh, block after block, as
does the next block executed on a restored snapshot."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from flobc.app.fl.app import FLApp
from flobc.app.fl.ledger_state import state_hash
from flobc.app.fl.state import FLState
from flobc.chain.types import SignedTx
from flobc.encoding import decode, encode
from flobc.sim.fl_fixtures import AppDriver


def _rounds(d: AppDriver, n: int) -> Iterator[tuple[list[SignedTx], int]]:
    """Blocks of ``n`` rounds: updates, votes (one batch per validator), the deadline."""
    rng = np.random.default_rng(0)
    for _ in range(n):
        live = d.app.live
        ups = [
            d.update(i, rng.normal(0, 0.1, 8), nonce=live.trainers[d.tid(i)].nonce + 1)[0]
            for i in range(len(d.tkeys))
        ]
        yield ups, d.time_ms + 100
        yield [d.ballots(j, [(u, 0.1 * (j + 1)) for u in ups]) for j in range(3)], d.time_ms + 100
        yield [], max(d.deadline_ms, d.time_ms + 1)


def test_executing_a_block_leaves_the_committed_state_as_it_was() -> None:
    d = AppDriver(trainers=3)
    for txs, at in _rounds(d, 2):
        before = d.app.snapshot()
        d.app.prepare_proposal(d.header(at), txs)  # a dry run on a copy
        d.app.finalize_block(d.header(at), txs)  # executed, not yet committed
        assert d.app.snapshot() == before
        d.block(txs, at_ms=at)


def test_remembered_leaf_hashes_equal_fresh_ones_and_restores_agree() -> None:
    d = AppDriver(trainers=3)
    for txs, at in _rounds(d, 4):
        height = d.app.live.height
        restored = FLApp(d.genesis, d.blobs)
        if height:
            restored.restore(height, d.app.snapshot())
        theirs = restored.finalize_block(d.header(at), txs).app_hash
        ours = d.block(txs, at_ms=at).app_hash
        assert ours == theirs
        assert ours == state_hash(decode(encode(d.app.live), FLState))
