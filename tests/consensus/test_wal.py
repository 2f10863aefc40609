"""The consensus write-ahead log: framing, torn tails, corruption, reset and reopen."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from flobc.consensus.wal import WALError, WriteAheadLog

RECORDS = [b"proposal h1", b"prevote h1", b"x" * 10_000, b"\0", b"precommit h1"]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "wal" / "consensus.wal"


def test_round_trip_and_framing(path: Path) -> None:
    with WriteAheadLog(path) as wal:
        for i, rec in enumerate(RECORDS):
            wal.append(rec, sync=i % 2 == 0)
        assert list(wal.records()) == RECORDS
    raw = path.read_bytes()
    assert raw[:8] == struct.pack(">II", len(RECORDS[0]), zlib.crc32(RECORDS[0]))
    assert len(raw) == sum(8 + len(r) for r in RECORDS)


def test_empty_and_missing_log(path: Path) -> None:
    with WriteAheadLog(path) as wal:
        assert list(wal.records()) == []
    assert path.exists()


def test_reopen_appends_after_existing_records(path: Path) -> None:
    with WriteAheadLog(path) as wal:
        wal.append(b"one", sync=True)
    with WriteAheadLog(path) as wal:
        assert list(wal.records()) == [b"one"]
        wal.append(b"two", sync=True)
    assert list(WriteAheadLog(path).records()) == [b"one", b"two"]


@pytest.mark.parametrize("cut", [1, 4, 7, 8, 9, 8 + len(RECORDS[-1]) - 1])
def test_torn_tail(path: Path, cut: int) -> None:
    with WriteAheadLog(path) as wal:
        for rec in RECORDS[:-1]:
            wal.append(rec, sync=False)
    last = struct.pack(">II", len(RECORDS[-1]), zlib.crc32(RECORDS[-1])) + RECORDS[-1]
    with path.open("ab") as fh:
        fh.write(last[:cut])  # the crash tore the last record
    with WriteAheadLog(path) as wal:
        assert list(wal.records()) == RECORDS[:-1]
        wal.append(b"after crash", sync=True)
        assert list(wal.records()) == [*RECORDS[:-1], b"after crash"]


def test_records_stop_at_torn_tail_without_reopen(path: Path) -> None:
    with WriteAheadLog(path) as wal:
        wal.append(b"good", sync=True)
        with path.open("ab") as fh:
            fh.write(struct.pack(">II", 100, 0) + b"short")
        assert list(wal.records()) == [b"good"]
        assert wal.truncate_torn_tail() == 13
        assert wal.truncate_torn_tail() == 0
        wal.append(b"next", sync=True)
        assert list(wal.records()) == [b"good", b"next"]


def test_corrupt_crc_stops_reading(path: Path) -> None:
    with WriteAheadLog(path) as wal:
        for rec in (b"a" * 10, b"b" * 10, b"c" * 10):
            wal.append(rec, sync=False)
    raw = bytearray(path.read_bytes())
    raw[18 + 8 + 3] ^= 0xFF  # a payload byte of the second record
    path.write_bytes(bytes(raw))
    wal = WriteAheadLog(path)
    assert list(wal.records()) == [b"a" * 10]
    assert path.stat().st_size == 18
    wal.close()


@pytest.mark.parametrize("header", [b"\0" * 8, struct.pack(">II", 1 << 31, 0)])
def test_zero_fill_and_absurd_length_are_not_records(path: Path, header: bytes) -> None:
    with WriteAheadLog(path) as wal:
        wal.append(b"ok", sync=True)
    with path.open("ab") as fh:
        fh.write(header + b"\0" * 64)
    assert list(WriteAheadLog(path).records()) == [b"ok"]


def test_reset_rewrites_the_log(path: Path) -> None:
    with WriteAheadLog(path) as wal:
        for rec in RECORDS:
            wal.append(rec, sync=False)
        wal.reset([b"height 2 start"])
        assert list(wal.records()) == [b"height 2 start"]
        wal.append(b"h2 vote", sync=True)
        assert list(wal.records()) == [b"height 2 start", b"h2 vote"]
        wal.reset([])
        assert list(wal.records()) == []
    assert list(WriteAheadLog(path).records()) == []
    assert not path.with_name(path.name + ".tmp").exists()


def test_refusals(path: Path) -> None:
    wal = WriteAheadLog(path)
    with pytest.raises(WALError):
        wal.append(b"", sync=False)
    with pytest.raises(WALError):
        wal.reset([b"fine", b""])
    assert list(wal.records()) == []
    wal.close()
    wal.close()
    with pytest.raises(WALError):
        wal.append(b"late", sync=False)


def test_deferred_syncs_are_owed_until_synced(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    synced: list[int] = []
    real = os.fsync
    with WriteAheadLog(path) as wal:
        monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
        wal.append(b"a", sync=True)
        assert len(synced) == 1 and wal.sync_owed() == 0
        wal.defer_syncs()
        wal.append(b"b", sync=False)
        assert wal.sync_owed() == 0
        wal.append(b"c", sync=True)
        wal.append(b"d", sync=False)
        assert len(synced) == 1  # written, not yet synced
        assert wal.sync_owed() == 3  # record 3 ("c") must reach stable storage
        wal.sync_through(wal.sync_owed())
        assert len(synced) == 2 and wal.sync_owed() == 0
        wal.sync_through(3)  # already durable: no second fsync
        assert len(synced) == 2
        wal.append(b"e", sync=True)
        wal.reset([b"e"])  # a reset rewrites the file durably: nothing is owed
        assert wal.sync_owed() == 0
        assert list(wal.records()) == [b"e"]
    with WriteAheadLog(path) as wal:  # a deferred record was written at once
        assert list(wal.records()) == [b"e"]
