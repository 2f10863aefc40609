"""Content-addressed storage for large payloads (model weights, updates).

A blob is named by the SHA-256 of its bytes. Every read re-hashes the bytes, so a
corrupted blob is never returned: :class:`BlobCorrupted` is raised and the blob is dropped.

A runtime with an event loop calls :meth:`FileBlobStore.defer_syncs` (as it does for the
consensus write-ahead log): ``put`` then writes and renames on the caller's thread (a
killed process loses nothing the kernel holds, and the rename publishes only whole files)
and leaves the fsyncs to :meth:`FileBlobStore.sync_through`, which the runtime runs in its
writer thread, a batch at a time, holding back whatever depends on the blobs until then.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from flobc.durable import fsync_dir
from flobc.encoding import sha256

DEFAULT_MAX_BLOB_BYTES = 64 * 1024 * 1024
HASH_BYTES = 32


class BlobError(Exception):
    """Base class of blob store errors."""


class BlobTooLarge(BlobError):
    """A blob over the store's size limit."""


class BlobCorrupted(BlobError):
    """Stored bytes that no longer hash to their name (the blob is now treated as missing)."""


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed blob storage keyed by SHA-256."""

    max_bytes: int

    def put(self, data: bytes) -> bytes:
        """Store ``data`` (idempotent) and return its SHA-256."""
        ...

    def get(self, h: bytes) -> bytes | None:
        """The verified bytes of blob ``h``, or None when absent."""
        ...

    def has(self, h: bytes) -> bool: ...

    def size(self, h: bytes) -> int | None: ...

    def delete(self, h: bytes) -> None:
        """Remove blob ``h``; a missing blob is not an error."""
        ...

    def sync(self) -> None:
        """Make every stored blob durable (a no-op unless syncs are deferred)."""
        ...


def _check_hash(h: bytes) -> None:
    if not isinstance(h, bytes) or len(h) != HASH_BYTES:
        raise ValueError("a blob hash is 32 bytes")


def _check_size(data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise BlobTooLarge(f"blob of {len(data)} bytes exceeds the limit of {max_bytes}")


class MemoryBlobStore:
    """:class:`BlobStore` in a dictionary (simulator and tests)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BLOB_BYTES) -> None:
        self.max_bytes = max_bytes
        self._blobs: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    def put(self, data: bytes) -> bytes:
        _check_size(data, self.max_bytes)
        h = sha256(data)
        with self._lock:
            self._blobs.setdefault(h, bytes(data))
        return h

    def get(self, h: bytes) -> bytes | None:
        _check_hash(h)
        return self._blobs.get(h)

    def has(self, h: bytes) -> bool:
        _check_hash(h)
        return h in self._blobs

    def size(self, h: bytes) -> int | None:
        _check_hash(h)
        data = self._blobs.get(h)
        return len(data) if data is not None else None

    def delete(self, h: bytes) -> None:
        _check_hash(h)
        with self._lock:
            self._blobs.pop(h, None)

    def sync(self) -> None:
        """Nothing to do: memory is as durable as this store gets."""


class FileBlobStore:
    """:class:`BlobStore` in a directory: ``root/ab/abcdef...`` (hex SHA-256).

    Writes are atomic and durable (temporary file, fsync, rename, fsync of the directory);
    with deferred syncs the fsyncs come later, in batches (see the module docstring).
    Temporary files live in ``root/tmp`` and are removed when the store is opened.
    """

    def __init__(self, root: Path | str, max_bytes: int = DEFAULT_MAX_BLOB_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._tmp = self.root / "tmp"
        self._lock = threading.Lock()  # orders replace and corruption removal
        self._tmp.mkdir(parents=True, exist_ok=True)
        for stale in self._tmp.iterdir():
            stale.unlink(missing_ok=True)
        self._deferred = False
        self._sync_lock = threading.Lock()  # guards the bookkeeping below
        self._flush_lock = threading.Lock()  # one batch of fsyncs at a time
        self._written = 0  # puts that wrote a file, numbered from 1
        self._synced = 0  # every written file up to this number is durable
        #: written files whose fsyncs are owed: (number, file, new shard directory)
        self._unsynced: list[tuple[int, Path, bool]] = []

    def path(self, h: bytes) -> Path:
        """Where blob ``h`` lives (whether or not it exists)."""
        _check_hash(h)
        name = h.hex()
        return self.root / name[:2] / name

    def put(self, data: bytes) -> bytes:
        """Store ``data``; an existing file of the right size is kept (reads verify it)."""
        _check_size(data, self.max_bytes)
        h = sha256(data)
        dest = self.path(h)
        if self.size(h) == len(data):
            return h
        new_dir = not dest.parent.is_dir()
        if new_dir:
            dest.parent.mkdir(exist_ok=True)
            if not self._deferred:
                fsync_dir(self.root)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix=h.hex()[:16] + ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                if not self._deferred:
                    os.fsync(fh.fileno())
            with self._lock:
                os.replace(tmp_name, dest)  # the publish point: only whole files are named
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        if self._deferred:
            with self._sync_lock:
                self._written += 1
                self._unsynced.append((self._written, dest, new_dir))
        else:
            fsync_dir(dest.parent)
        return h

    # ------------------------------------------------------------------ deferred syncs

    def defer_syncs(self) -> None:
        """From now on ``put`` leaves its fsyncs to :meth:`sync_through`."""
        self._deferred = True

    def sync_owed(self) -> int:
        """The write number :meth:`sync_through` must reach; 0 when nothing is owed."""
        with self._sync_lock:
            return self._written if self._written > self._synced else 0

    def sync_through(self, written: int) -> None:
        """Make the files of puts up to ``written`` durable, as one batch: each file's
        fsync, then one fsync per directory they were renamed into (and of the root for a
        new shard directory). Safe from another thread while the owner puts."""
        with self._flush_lock:
            with self._sync_lock:
                if written <= self._synced:
                    return
                batch = [e for e in self._unsynced if e[0] <= written]
            dirs: dict[Path, None] = {}
            for _, path, new_dir in batch:
                try:
                    fd = os.open(path, os.O_RDONLY)
                except FileNotFoundError:  # deleted (or dropped as corrupt) meanwhile
                    continue
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if new_dir:
                    dirs[self.root] = None
                dirs[path.parent] = None
            for d in dirs:
                fsync_dir(d)
            with self._sync_lock:
                self._synced = max(self._synced, written)
                self._unsynced = [e for e in self._unsynced if e[0] > written]

    def sync(self) -> None:
        """Make every blob put so far durable (on the caller's thread)."""
        owed = self.sync_owed()
        if owed:
            self.sync_through(owed)

    def get(self, h: bytes) -> bytes | None:
        path = self.path(h)
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            return None
        with fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
        if sha256(data) == h:
            return data
        with self._lock:  # drop it, unless a good copy replaced it meanwhile
            try:
                now = path.stat()
                if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                    path.unlink()
            except FileNotFoundError:
                pass
        raise BlobCorrupted(f"blob {h.hex()} is corrupted and was removed")

    def has(self, h: bytes) -> bool:
        return self.path(h).is_file()

    def size(self, h: bytes) -> int | None:
        try:
            return self.path(h).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, h: bytes) -> None:
        path = self.path(h)
        with self._lock:
            path.unlink(missing_ok=True)
