"""Content-addressed blob stores: shared behaviour, plus corruption handling on disk."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from flobc.chain.blobs import (
    BlobCorrupted,
    BlobStore,
    BlobTooLarge,
    FileBlobStore,
    MemoryBlobStore,
)
from flobc.encoding import sha256

LIMIT = 4096


@pytest.fixture(params=["memory", "file", "file-deferred"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "memory":
        yield MemoryBlobStore(max_bytes=LIMIT)
    else:
        store = FileBlobStore(tmp_path / "blobs", max_bytes=LIMIT)
        if request.param == "file-deferred":
            store.defer_syncs()
        yield store
        store.sync()


def test_satisfies_protocol(blobs: BlobStore) -> None:
    assert isinstance(blobs, BlobStore)


def test_put_get_round_trip(blobs: BlobStore) -> None:
    data = os.urandom(1000)
    h = blobs.put(data)
    assert h == sha256(data)
    assert blobs.get(h) == data
    assert blobs.has(h) and blobs.size(h) == 1000


def test_empty_blob(blobs: BlobStore) -> None:
    h = blobs.put(b"")
    assert blobs.get(h) == b"" and blobs.size(h) == 0


def test_missing(blobs: BlobStore) -> None:
    h = sha256(b"absent")
    assert blobs.get(h) is None and not blobs.has(h) and blobs.size(h) is None
    blobs.delete(h)  # no error


def test_put_is_idempotent(blobs: BlobStore) -> None:
    data = b"weights" * 100
    assert blobs.put(data) == blobs.put(data)
    assert blobs.get(sha256(data)) == data


def test_distinct_blobs(blobs: BlobStore) -> None:
    hashes = {blobs.put(bytes([i]) * (i + 1)): bytes([i]) * (i + 1) for i in range(50)}
    assert len(hashes) == 50
    for h, data in hashes.items():
        assert blobs.get(h) == data


def test_delete(blobs: BlobStore) -> None:
    h = blobs.put(b"gone soon")
    keep = blobs.put(b"stays")
    blobs.delete(h)
    assert not blobs.has(h) and blobs.get(h) is None
    assert blobs.get(keep) == b"stays"


def test_size_limit(blobs: BlobStore) -> None:
    assert blobs.put(b"x" * LIMIT) == sha256(b"x" * LIMIT)
    with pytest.raises(BlobTooLarge):
        blobs.put(b"x" * (LIMIT + 1))
    assert not blobs.has(sha256(b"x" * (LIMIT + 1)))


@pytest.mark.parametrize("bad", [b"", b"\0" * 31, b"\0" * 33])
def test_rejects_malformed_hash(blobs: BlobStore, bad: bytes) -> None:
    with pytest.raises(ValueError):
        blobs.get(bad)
    with pytest.raises(ValueError):
        blobs.has(bad)


def test_default_limit_is_64_mib(tmp_path: Path) -> None:
    assert MemoryBlobStore().max_bytes == 64 * 1024 * 1024
    assert FileBlobStore(tmp_path).max_bytes == 64 * 1024 * 1024


def test_file_layout_and_reopen(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "b")
    h = store.put(b"model")
    path = tmp_path / "b" / h.hex()[:2] / h.hex()
    assert store.path(h) == path and path.read_bytes() == b"model"
    assert not any((tmp_path / "b" / "tmp").iterdir())
    assert FileBlobStore(tmp_path / "b").get(h) == b"model"


def test_stale_tmp_files_are_removed_on_open(tmp_path: Path) -> None:
    FileBlobStore(tmp_path)
    (tmp_path / "tmp" / "abc.partial").write_bytes(b"half a blob")
    FileBlobStore(tmp_path)
    assert not any((tmp_path / "tmp").iterdir())


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend"])
def test_corruption_is_detected_and_blob_dropped(tmp_path: Path, damage: str) -> None:
    store = FileBlobStore(tmp_path)
    data = os.urandom(2048)
    h = store.put(data)
    path = store.path(h)
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[100] ^= 0x01
    elif damage == "truncate":
        del raw[-1]
    else:
        raw += b"\0"
    path.write_bytes(bytes(raw))
    with pytest.raises(BlobCorrupted):
        store.get(h)
    assert not store.has(h) and store.get(h) is None and store.size(h) is None
    assert store.put(data) == h and store.get(h) == data  # repairable by a fresh put


def test_corrupt_blob_with_same_size_is_caught_on_every_read(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    h = store.put(b"a" * 64)
    assert store.get(h) == b"a" * 64
    store.path(h).write_bytes(b"b" * 64)
    with pytest.raises(BlobCorrupted):
        store.get(h)


class RecordingFsync:
    """``os.fsync`` that records the path of each descriptor it syncs."""

    def __init__(self) -> None:
        self.paths: list[Path] = []
        self._real = os.fsync

    def __call__(self, fd: int) -> None:
        self.paths.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        self._real(fd)


@pytest.fixture()
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> RecordingFsync:
    rec = RecordingFsync()
    monkeypatch.setattr(os, "fsync", rec)
    return rec


def test_put_is_durable_on_return_by_default(tmp_path: Path, fsyncs: RecordingFsync) -> None:
    store = FileBlobStore(tmp_path / "b")
    h = store.put(b"weights")
    dest = store.path(h)
    assert any(p.parent == store.root / "tmp" for p in fsyncs.paths)  # the file, pre-rename
    assert dest.parent in fsyncs.paths and store.root in fsyncs.paths  # its new shard dir
    assert store.sync_owed() == 0


def test_deferred_put_is_readable_at_once_and_durable_after_sync_through(
    tmp_path: Path, fsyncs: RecordingFsync
) -> None:
    store = FileBlobStore(tmp_path / "b")
    store.defer_syncs()
    hs = [store.put(bytes([i]) * 100) for i in range(3)]
    assert store.put(bytes([0]) * 100) == hs[0]  # already stored: no second write
    assert fsyncs.paths == []  # nothing synced on the putting thread
    assert [store.get(h) for h in hs] == [bytes([i]) * 100 for i in range(3)]
    assert not list((store.root / "tmp").iterdir())  # renamed: only whole files are named
    owed = store.sync_owed()
    assert owed == 3
    store.sync_through(2)  # a batch: the first two files, then their directories
    first = [store.path(h) for h in hs[:2]]
    assert fsyncs.paths[:2] == first
    assert set(fsyncs.paths[2:]) == {p.parent for p in first} | {store.root}
    assert store.sync_owed() == 3
    fsyncs.paths.clear()
    store.sync()
    assert fsyncs.paths[0] == store.path(hs[2]) and store.path(hs[2]).parent in fsyncs.paths
    assert store.sync_owed() == 0
    fsyncs.paths.clear()
    store.sync_through(owed)  # already durable: nothing to do
    assert fsyncs.paths == []


def test_deferred_sync_skips_a_blob_deleted_meanwhile(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "b")
    store.defer_syncs()
    gone, kept = store.put(b"gone"), store.put(b"kept")
    store.delete(gone)
    store.sync()
    assert store.sync_owed() == 0 and store.get(kept) == b"kept" and not store.has(gone)


def test_deferred_blobs_survive_reopen_after_sync(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "b")
    store.defer_syncs()
    h = store.put(b"model")
    store.sync()
    assert FileBlobStore(tmp_path / "b").get(h) == b"model"


def test_memory_store_sync_is_a_no_op() -> None:
    store = MemoryBlobStore()
    h = store.put(b"x")
    store.sync()
    assert store.get(h) == b"x"
