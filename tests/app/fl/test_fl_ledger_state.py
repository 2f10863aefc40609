"""Bounded ledger state: released rounds fold into the blob-store history, the app hash
commits to it, snapshots every N heights, and replay of the blocks since a snapshot."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from flobc.app.abci import ReplayError, replay
from flobc.app.fl import ledger_state
from flobc.app.fl.app import FLApp
from flobc.app.fl.ledger_state import RECENT_VERSIONS, History, state_hash
from flobc.chain.store import MemoryBlockStore
from flobc.chain.types import Block, Commit, SignedTx, txs_root
from flobc.encoding import encode
from flobc.sim.fl_fixtures import AppDriver


def _rounds(d: AppDriver, n: int, seed: int = 3) -> list[list[SignedTx]]:
    """``n`` rounds: every trainer's update decided (trainer 1 rejected), then the deadline."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        txs = [
            d.submit_and_decide(i, rng.normal(0, 0.1, 8), -0.1 if i == 1 else 0.1)
            for i in range(len(d.tkeys))
        ]
        d.block(at_ms=d.deadline_ms)
        out.append(txs)
    return out


def test_the_live_state_stays_bounded_while_the_history_grows() -> None:
    d = AppDriver(trainers=3)
    _rounds(d, 3)
    size_early = len(encode(d.app.live))
    _rounds(d, 20)
    live = d.app.live
    assert live.updates == {}  # every released round left the live state
    assert [v.version for v in live.recent_versions] == [22, 23][-RECENT_VERSIONS:]
    assert len(encode(live)) <= size_early + 64  # a few counters grow a digit, no more
    assert len(d.state.versions) == 24 and d.state.version.version == 23


def test_past_updates_and_versions_read_back_from_the_history() -> None:
    d = AppDriver(trainers=3)
    rounds = _rounds(d, 4)
    st = d.state
    assert [v.version for v in st.versions] == list(range(5))
    assert [v.version for v in st.versions[1:3]] == [1, 2]
    for r, txs in enumerate(rounds, start=1):
        v = st.versions[r]
        assert v.updates == [txs[0].hash.hex(), txs[2].hash.hex()]  # trainer 1 rejected
        for i, tx in enumerate(txs):
            u = st.updates[tx.hash.hex()]
            assert (u.round, u.status) == (r, "rejected" if i == 1 else "accepted")
            assert len(u.votes) == 3 and tx.hash.hex() in st.updates
    assert len(st.updates) == 12 == len(list(st.updates.values())) == len(list(st.updates))
    assert "00" * 32 not in st.updates
    with pytest.raises(KeyError):
        st.updates["00" * 32]
    assert d.app.query("update", {"id": rounds[0][1].hash.hex()})["status"] == "rejected"
    with pytest.raises(KeyError):
        d.app.query("version", {"version": 5})


def test_the_app_hash_commits_to_the_history_head() -> None:
    d = AppDriver(trainers=2)
    _rounds(d, 2)
    live = d.app.live
    assert state_hash(live) == d.app.info()[1]
    forged = msgspec.structs.replace(live, history="ab" * 32)
    assert state_hash(forged) != state_hash(live)
    # the head names a record that names its predecessor, down to version 0
    h = History(d.blobs)
    h.follow(live.history)
    assert [v.version for v in h.versions] == [0, 1, 2]
    assert h.versions[-1] == live.version


def test_a_restored_app_rebuilds_the_history_from_the_blobs() -> None:
    d = AppDriver(trainers=2)
    rounds = _rounds(d, 3)
    restored = FLApp(d.genesis, d.blobs)
    restored.restore(d.height, d.app.snapshot())
    assert restored.info() == d.app.info()
    assert list(restored.state.versions) == list(d.state.versions)
    uid = rounds[1][0].hash.hex()
    assert restored.state.updates[uid] == d.state.updates[uid]


def test_snapshots_are_taken_every_n_heights() -> None:
    d = AppDriver(trainers=2)
    d.app = FLApp(d.genesis, d.blobs, snapshot_interval=3)
    taken = []
    for _ in range(7):
        d.app.finalize_block(d.header(d.time_ms + 100), [])
        taken.append(d.app.commit() is not None)
        d.height, d.time_ms = d.height + 1, d.time_ms + 100
    assert taken == [False, False, True, False, False, True, False]
    with pytest.raises(ValueError, match="snapshot_interval"):
        FLApp(d.genesis, d.blobs, snapshot_interval=0)


def _stored_run(d: AppDriver, store: MemoryBlockStore, rounds: int) -> None:
    """Run ``rounds`` rounds of ``d`` saving every block into ``store``, as a node does."""
    rng = np.random.default_rng(5)
    prev = b""

    def block(txs: list[SignedTx], at_ms: int) -> None:
        nonlocal prev
        raw = [tx.encoded() for tx in txs]
        header = msgspec.structs.replace(d.header(at_ms), prev_hash=prev, tx_root=txs_root(raw))
        res = d.app.finalize_block(header, txs)
        snap = d.app.commit()
        b = Block(header, raw, None)
        store.save_block(b, Commit(header.height, 0, b.hash, []), res.app_hash, snap)
        prev, d.height, d.time_ms = b.hash, header.height, at_ms

    for _ in range(rounds):
        ups = [d.update(i, rng.normal(0, 0.1, 8))[0] for i in range(len(d.tkeys))]
        block(ups, d.time_ms + 100)
        block([v for u in ups for v in d.votes(u, [0.1, 0.2, 0.3])], d.time_ms + 100)
        block([], d.deadline_ms)


def test_replay_restores_the_last_snapshot_and_the_blocks_after_it() -> None:
    d = AppDriver(trainers=2)
    d.app = FLApp(d.genesis, d.blobs, snapshot_interval=4)
    store = MemoryBlockStore()
    _stored_run(d, store, 5)  # 15 blocks: the last snapshot is at height 12
    assert store.latest_snapshot()[0] == 12  # type: ignore[index]
    fresh = FLApp(d.genesis, d.blobs, snapshot_interval=4)
    assert replay(fresh, store) == 3
    assert fresh.info() == d.app.info() == (15, store.app_hash(15))
    assert list(fresh.state.versions) == list(d.state.versions)
    assert replay(fresh, store) == 0  # already there
    # no snapshot at all: every block from genesis
    from_genesis = FLApp(d.genesis, d.blobs)
    bare = MemoryBlockStore()
    for h in range(1, 16):
        cb = store.committed_block(h)
        assert cb is not None
        bare.save_block(cb.block, cb.commit, store.app_hash(h) or b"", None)
    assert replay(from_genesis, bare) == 15 and from_genesis.info() == d.app.info()


def test_replay_is_loud_about_a_divergent_app_hash() -> None:
    d = AppDriver(trainers=2)
    store = MemoryBlockStore()
    _stored_run(d, store, 1)
    forged = MemoryBlockStore()
    for h in range(1, store.height() + 1):
        cb = store.committed_block(h)
        assert cb is not None
        app_hash = b"\x00" * 32 if h == 2 else store.app_hash(h) or b""
        forged.save_block(cb.block, cb.commit, app_hash, None)
    with pytest.raises(ReplayError, match="divergence replaying block 2"):
        replay(FLApp(d.genesis, d.blobs), forged)


def test_round_batches_and_base_ranges_match_a_full_scan() -> None:
    d = AppDriver(trainers=3)
    _rounds(d, 5)
    open_round, _ = d.update(0, [0.01] * 8)
    d.block([open_round])
    st = d.state
    everything = list(st.updates.values())
    batches = list(st.update_batches())
    assert [u.id for u in batches[0]] == [open_round.hash.hex()]
    assert sorted(u.id for b in batches for u in b) == sorted(u.id for u in everything)
    keys = [max((u.height, u.nonce) for u in b) for b in batches]
    lows = [min((u.height, u.nonce) for u in b) for b in batches]
    assert all(lows[i] > keys[i + 1] for i in range(len(batches) - 1))  # newest first, disjoint
    for lo, hi in [(0, 2), (1, 4), (3, 9), (5, 6)]:
        expected = sorted(u.id for u in everything if lo <= u.base_version < hi)
        assert sorted(u.id for u in st.updates_on_bases(lo, hi)) == expected


def test_decoded_records_in_memory_are_bounded_by_their_updates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At thousands of trainers a decoded round is megabytes: the memory keeps at most
    ``RECORD_CACHE_UPDATES`` updates' worth (always the newest record) and reads the
    rest back from the blobs, with the same answers."""
    monkeypatch.setattr(ledger_state, "RECORD_CACHE_UPDATES", 7)
    d = AppDriver(trainers=3)
    rounds = _rounds(d, 4)
    h = d.app.state.history
    assert list(h._cache) == [3, 4] and h._cached_updates == 6  # 3 updates per round
    st = d.state
    for r, txs in enumerate(rounds, start=1):
        assert [st.updates[tx.hash.hex()].round for tx in txs] == [r] * 3
    assert len(h._cache) == 2 and h._cached_updates == sum(
        len(rec.updates) for rec in h._cache.values()
    )
    monkeypatch.setattr(ledger_state, "RECORD_CACHE_UPDATES", 1)
    _rounds(d, 1)
    assert list(h._cache) == [5]  # the newest is kept even when over the bound


def test_histories_share_decoded_records_but_read_their_own_blobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Validators of one process following the same head share one decoded copy of each
    record (the simulator ran ten); each still needs the record in its own blob store."""
    monkeypatch.setattr(ledger_state, "_shared", type(ledger_state._shared)())
    d = AppDriver(trainers=3)
    _rounds(d, 3)
    head = d.app.live.history
    others = [History(d.blobs) for _ in range(2)]
    for h in others:
        h.follow(head)
    own = d.app.state.history
    for v in range(1, 4):
        recs = [h.record(v) for h in (own, *others)]
        assert all(r is recs[0] for r in recs)
        assert encode(recs[0]) == d.blobs.get(bytes.fromhex(own._heads[v]))
    assert len(ledger_state._shared) <= ledger_state.SHARED_RECORDS
    # a store without the records cannot follow the head, shared copies or not
    empty = History(type(d.blobs)())
    with pytest.raises(RuntimeError, match="missing history record"):
        empty.follow(head)
