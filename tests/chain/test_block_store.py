"""Shared behaviour of the block stores, run against every backend."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from flobc.chain.store import (
    BlockStore,
    ConflictingBlockError,
    MemoryBlockStore,
    SQLiteBlockStore,
    StoreError,
)
from flobc.chain.types import (
    Block,
    BlockHeader,
    Commit,
    CommitSig,
    CommittedBlock,
    SignedTx,
    Vote,
    VoteType,
    commit_hash,
    tx_hash,
    txs_root,
)
from flobc.chain.validators import Validator, ValidatorSet
from flobc.crypto import KeyPair
from flobc.encoding import sha256

CHAIN = "test-chain"
KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(4)]
VSET = ValidatorSet(Validator(k.public_key) for k in KEYS)
TRAINER = KeyPair.from_seed(b"\x77" * 32)
Chain = list[tuple[Block, Commit]]


def make_commit(height: int, block_hash: bytes, round_: int = 0) -> Commit:
    sigs = []
    for i, key in enumerate(KEYS):
        vote = Vote(VoteType.PRECOMMIT, height, round_, block_hash, 1000 * height + i, i)
        sigs.append(CommitSig(i, vote.time_ms, key.sign(vote.message(CHAIN))))
    return Commit(height, round_, block_hash, sigs)


def make_chain(n: int, txs_per_block: int = 2, salt: str = "") -> Chain:
    """``n`` linked blocks with signed transactions and real commit certificates."""
    chain: Chain = []
    prev_hash, last_commit = b"", None
    for h in range(1, n + 1):
        txs = [
            SignedTx.create(
                CHAIN, TRAINER, "kv/set", f"{salt}{h}.{i}".encode(), h * 100 + i
            ).encoded()
            for i in range(txs_per_block)
        ]
        header = BlockHeader(
            CHAIN,
            h,
            0,
            1000 * h,
            KEYS[h % 4].address,
            prev_hash,
            txs_root(txs),
            commit_hash(last_commit),
            app_hash_of(h - 1),
            VSET.hash,
        )
        block = Block(header, txs, last_commit)
        commit = make_commit(h, block.hash)
        chain.append((block, commit))
        prev_hash, last_commit = block.hash, commit
    return chain


def app_hash_of(h: int) -> bytes:
    return sha256(b"app" + h.to_bytes(8, "big"))


def save(store: BlockStore, block: Block, commit: Commit) -> None:
    store.save_block(block, commit, app_hash_of(block.height), b"snap%d" % block.height)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlockStore]:
    s: BlockStore = (
        MemoryBlockStore()
        if request.param == "memory"
        else SQLiteBlockStore(tmp_path / "blocks.db")
    )
    yield s
    s.close()


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain(5)


def test_satisfies_protocol(store: BlockStore) -> None:
    assert isinstance(store, BlockStore)


def test_empty_store(store: BlockStore) -> None:
    assert store.height() == 0
    assert store.block(1) is None and store.commit(1) is None
    assert store.committed_block(1) is None and store.block_hash(1) is None
    assert store.app_hash(1) is None and store.block(0) is None
    assert store.latest_snapshot() is None
    assert not store.has_tx(b"\0" * 32) and store.tx_location(b"\0" * 32) is None
    assert store.get_meta("x") is None


def test_round_trip(store: BlockStore, chain: Chain) -> None:
    for block, commit in chain:
        save(store, block, commit)
        assert store.height() == block.height
    for block, commit in chain:
        h = block.height
        assert store.block(h) == block
        assert store.commit(h) == commit
        cb = store.committed_block(h)
        assert cb is not None and cb.block == block and cb.commit == commit
        assert store.block_hash(h) == block.hash
        assert store.app_hash(h) == app_hash_of(h)
        VSET.verify_commit(CHAIN, store.commit(h), h, store.block_hash(h))  # type: ignore[arg-type]
    assert store.block(len(chain) + 1) is None


@pytest.mark.parametrize("bad_height", [0, 2, 3])
def test_refuses_out_of_order_height(store: BlockStore, bad_height: int) -> None:
    chain = make_chain(3)
    if bad_height == 0:
        header = msgspec.structs.replace(chain[0][0].header, height=0)
        block = Block(header, [], None)
        commit = make_commit(0, block.hash)
    else:
        block, commit = chain[bad_height - 1]
    with pytest.raises(StoreError):
        save(store, block, commit)
    assert store.height() == 0 and store.latest_snapshot() is None


def test_refuses_commit_for_other_block(store: BlockStore, chain: Chain) -> None:
    block, _ = chain[0]
    with pytest.raises(StoreError, match="certify"):
        save(store, block, chain[1][1])
    with pytest.raises(StoreError, match="certify"):
        save(store, block, make_commit(1, b"\1" * 32))
    assert store.height() == 0


def test_refuses_unlinked_block(store: BlockStore, chain: Chain) -> None:
    save(store, *chain[0])
    other = make_chain(2, salt="fork")[1]
    with pytest.raises(StoreError, match="link"):
        save(store, *other)
    assert store.height() == 1


def test_conflicting_block_at_same_height(store: BlockStore, chain: Chain) -> None:
    for block, commit in chain[:2]:
        save(store, block, commit)
    fork = make_chain(1, salt="fork")[0]
    assert fork[0].hash != chain[0][0].hash
    with pytest.raises(ConflictingBlockError):
        save(store, *fork)
    with pytest.raises(ConflictingBlockError):  # same block, different app hash
        store.save_block(chain[1][0], chain[1][1], b"\x99" * 32, b"")
    assert store.block(1) == chain[0][0] and store.height() == 2


def test_resaving_the_stored_block_is_a_noop(store: BlockStore, chain: Chain) -> None:
    for block, commit in chain[:2]:
        save(store, block, commit)
    store.save_block(chain[0][0], chain[0][1], app_hash_of(1), b"ignored")
    assert store.height() == 2
    assert store.latest_snapshot() == (2, b"snap2")


def test_tx_index(store: BlockStore, chain: Chain) -> None:
    for block, commit in chain:
        save(store, block, commit)
    for block, _ in chain:
        for i, raw in enumerate(block.txs):
            assert store.has_tx(tx_hash(raw))
            assert store.tx_location(tx_hash(raw)) == (block.height, i)
    assert not store.has_tx(sha256(b"never committed"))
    assert store.tx_location(sha256(b"never committed")) is None


def test_tx_hashes_in_commit_order_or_none_past_the_limit(store: BlockStore, chain: Chain) -> None:
    assert store.tx_hashes(0) == []
    for block, commit in chain:
        save(store, block, commit)
    every = [tx_hash(raw) for block, _ in chain for raw in block.txs]
    assert len(every) > 1
    assert store.tx_hashes(len(every)) == every
    assert store.tx_hashes(len(every) - 1) is None


def test_tx_index_keeps_first_occurrence(store: BlockStore) -> None:
    ((b1, c1),) = make_chain(1)
    raw = b1.txs[0]
    header = msgspec.structs.replace(
        b1.header, height=2, prev_hash=b1.hash, tx_root=txs_root([raw, raw])
    )
    b2 = Block(header, [raw, raw], c1)
    save(store, b1, c1)
    save(store, b2, make_commit(2, b2.hash))
    assert store.tx_location(tx_hash(raw)) == (1, 0)


def test_snapshot_is_latest(store: BlockStore, chain: Chain) -> None:
    for block, commit in chain[:3]:
        store.save_block(block, commit, app_hash_of(block.height), b"S" * block.height)
        assert store.latest_snapshot() == (block.height, b"S" * block.height)
    assert [store.app_hash(h) for h in (1, 2, 3)] == [app_hash_of(h) for h in (1, 2, 3)]


def test_a_save_without_snapshot_keeps_the_last_one(store: BlockStore, chain: Chain) -> None:
    """Snapshots are taken every N blocks: the blocks between carry none."""
    for block, commit in chain:
        snap = b"S%d" % block.height if block.height % 2 == 0 else None
        store.save_block(block, commit, app_hash_of(block.height), snap)
        assert store.height() == block.height
        h = block.height // 2 * 2  # the last even height, if any
        assert store.latest_snapshot() == ((h, b"S%d" % h) if h else None)


def test_meta(store: BlockStore) -> None:
    store.set_meta("node/last_height", b"\x01")
    store.set_meta("other", b"")
    store.set_meta("node/last_height", b"\x02")
    assert store.get_meta("node/last_height") == b"\x02"
    assert store.get_meta("other") == b""
    assert store.get_meta("missing") is None


def test_closed_store_refuses(store: BlockStore) -> None:
    store.close()
    with pytest.raises(StoreError):
        store.height()
    with pytest.raises(StoreError):
        store.block(1)


def test_concurrent_readers_and_writer(store: BlockStore) -> None:
    chain = make_chain(20, txs_per_block=1)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(200):
                h = store.height()
                if h:
                    assert store.block(h) is not None
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    for block, commit in chain:
        save(store, block, commit)
    for t in readers:
        t.join()
    assert not errors and store.height() == 20


def test_sqlite_reopen_finds_everything(tmp_path: Path, chain: Chain) -> None:
    path = tmp_path / "blocks.db"
    with SQLiteBlockStore(path) as s:
        for block, commit in chain:
            save(s, block, commit)
        s.set_meta("k", b"v")
    s2 = SQLiteBlockStore(path)
    try:
        assert s2.height() == len(chain)
        for block, commit in chain:
            assert s2.committed_block(block.height) == CommittedBlock(block, commit)
            assert s2.block(block.height) == block and s2.commit(block.height) == commit
            for raw in block.txs:
                assert s2.has_tx(tx_hash(raw))
        assert s2.latest_snapshot() == (len(chain), b"snap%d" % len(chain))
        assert s2.get_meta("k") == b"v"
        with pytest.raises(ConflictingBlockError):
            save(s2, *make_chain(1, salt="fork")[0])
        extra = make_chain(len(chain) + 1)[-1]
        save(s2, *extra)
        assert s2.height() == len(chain) + 1
        mode = s2._one("PRAGMA journal_mode")
        sync = s2._one("PRAGMA synchronous")
        assert mode == ("wal",) and sync == (2,)  # 2 = FULL
    finally:
        s2.close()


def test_sqlite_rejects_corrupt_row(tmp_path: Path, chain: Chain) -> None:
    s = SQLiteBlockStore(tmp_path / "blocks.db")
    try:
        save(s, *chain[0])
        with s._tx() as cur:
            cur.execute("UPDATE blocks SET block = ? WHERE height = 1", (b"\xc1junk",))
        with pytest.raises(StoreError, match="corrupt"):
            s.block(1)
    finally:
        s.close()


def test_sqlite_unopenable_path(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        SQLiteBlockStore(tmp_path / "missing-dir" / "blocks.db")


def test_sqlite_failed_save_rolls_back(tmp_path: Path, chain: Chain) -> None:
    s = SQLiteBlockStore(tmp_path / "blocks.db")
    try:
        save(s, *chain[0])
        with s._tx() as cur:  # a trigger makes the snapshot write (the last step) fail
            cur.execute(
                "CREATE TRIGGER boom BEFORE INSERT ON snapshot BEGIN SELECT RAISE(ABORT, 'x'); END"
            )
        with pytest.raises(StoreError):
            save(s, *chain[1])
        assert s.height() == 1 and s.block(2) is None and s.app_hash(2) is None
        assert not s.has_tx(tx_hash(chain[1][0].txs[0]))
        with s._tx() as cur:
            cur.execute("DROP TRIGGER boom")
        save(s, *chain[1])
        assert s.height() == 2 and s.latest_snapshot() == (2, b"snap2")
    finally:
        s.close()


def test_sqlite_normal_sync_checkpoints_into_the_database(tmp_path: Path, chain: Chain) -> None:
    path = tmp_path / "blocks.db"
    s = SQLiteBlockStore(path, synchronous="NORMAL")
    try:
        assert s._one("PRAGMA synchronous") == (1,)  # 1 = NORMAL: no fsync per commit
        for block, commit in chain:
            save(s, block, commit)
        wal = path.with_name(path.name + "-wal")
        assert wal.stat().st_size > 0
        s.sync()  # every frame copied into the database file (and synced)
        busy, frames, copied = s._one("PRAGMA wal_checkpoint(PASSIVE)") or (1, -1, -2)
        assert busy == 0 and frames == copied
        assert s.height() == len(chain)
    finally:
        s.close()
    with SQLiteBlockStore(path) as again:
        assert again.height() == len(chain)
        with pytest.raises(StoreError):
            SQLiteBlockStore(path, synchronous="OFF")  # not a level the store offers


def test_store_sync_after_close_refuses(store: BlockStore) -> None:
    store.sync()
    store.close()
    with pytest.raises(StoreError):
        store.sync()
