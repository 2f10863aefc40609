"""The consensus write-ahead log: an append-only file of length- and CRC-framed records.

Each record is ``length (4 bytes, big-endian) | CRC32 of payload (4 bytes) | payload``.
A crash can leave a torn or corrupt record at the end; reading stops cleanly there, and
opening the log truncates it so later appends stay readable. Payloads must be non-empty,
so a run of zero bytes (as some filesystems leave after a crash) is never a record.

A runtime with an event loop calls :meth:`WriteAheadLog.defer_syncs`: then ``append(...,
sync=True)`` only writes (a killed process loses nothing the kernel holds) and notes that
a sync is owed; the runtime runs :meth:`WriteAheadLog.sync_through` in a writer thread and
holds back every outbound message until the records they depend on are on stable storage.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

from flobc.durable import fsync_dir, write_all, write_atomic

_HEADER = struct.Struct(">II")
#: Largest record accepted; a longer length field is treated as corruption.
MAX_RECORD_BYTES = 64 * 1024 * 1024


class WALError(Exception):
    """A write the log refuses, or use after close."""


def _frame(payload: bytes) -> bytes:
    if not payload:
        raise WALError("a WAL record cannot be empty")
    if len(payload) > MAX_RECORD_BYTES:
        raise WALError(f"a WAL record of {len(payload)} bytes exceeds {MAX_RECORD_BYTES}")
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _scan(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield ``(end_offset, payload)`` for each valid record, stopping at the first bad one."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return
    with fh:
        offset = 0
        while True:
            header = fh.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return
            length, crc = _HEADER.unpack(header)
            if length == 0 or length > MAX_RECORD_BYTES:
                return
            payload = fh.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                return
            offset += _HEADER.size + length
            yield offset, payload


class WriteAheadLog:
    """An append-only record log at ``path`` (created if missing, torn tail dropped on open)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._deferred = False
        self._appended = 0  # records appended since open
        self._owed = 0  # the last of them that must reach stable storage
        self._synced = 0  # every record up to this one is on stable storage
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.truncate_torn_tail()
        self._open()

    def _open(self) -> None:
        existed = self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if not existed:
            fsync_dir(self.path.parent)

    def _writer(self) -> int:
        if self._fd is None:
            raise WALError("the write-ahead log is closed")
        return self._fd

    def append(self, payload: bytes, *, sync: bool) -> None:
        """Append one record; with ``sync`` it is on stable storage when this returns, or,
        with deferred syncs, once :meth:`sync_through` has covered it."""
        frame = _frame(payload)
        with self._lock:
            fd = self._writer()
            write_all(fd, frame)
            self._appended += 1
            if sync:
                if self._deferred:
                    self._owed = self._appended
                else:
                    os.fsync(fd)
                    self._synced = self._appended

    def sync(self) -> None:
        """Flush every record appended so far to stable storage."""
        with self._lock:
            os.fsync(self._writer())
            self._synced = self._appended

    def defer_syncs(self) -> None:
        """From now on ``append(sync=True)`` leaves the fsync to :meth:`sync_through`."""
        self._deferred = True

    def sync_owed(self) -> int:
        """The record number :meth:`sync_through` must reach; 0 when nothing is owed."""
        return self._owed if self._owed > self._synced else 0

    def sync_through(self, record: int) -> None:
        """Make records up to ``record`` durable; safe from another thread while the owner
        appends (the fsync runs on a duplicate descriptor, outside the append lock)."""
        with self._lock:
            if record <= self._synced:
                return
            fd = os.dup(self._writer())
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        with self._lock:
            self._synced = max(self._synced, record)

    def records(self) -> Iterator[bytes]:
        """The payloads in order, up to (excluding) the first torn or corrupt record."""
        for _, payload in _scan(self.path):
            yield payload

    def truncate_torn_tail(self) -> int:
        """Cut the file after its last valid record; return how many bytes were dropped."""
        with self._lock:
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                return 0
            end = max((offset for offset, _ in _scan(self.path)), default=0)
            if end == size:
                return 0
            with self.path.open("r+b") as fh:
                fh.truncate(end)
                fh.flush()
                os.fsync(fh.fileno())
            return size - end

    def reset(self, payloads: list[bytes]) -> None:
        """Atomically replace the whole log with exactly ``payloads`` (durable on return)."""
        data = b"".join(_frame(p) for p in payloads)
        with self._lock:
            old = self._writer()
            write_atomic(self.path, data)
            self._fd = None
            os.close(old)
            self._open()
            self._synced = self._owed = self._appended  # the new file is durable

    def close(self) -> None:
        """Close the log (idempotent); appends afterwards raise :class:`WALError`."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> WriteAheadLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
