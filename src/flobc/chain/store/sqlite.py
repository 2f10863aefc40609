"""A durable block store on SQLite (WAL journal).

Each :meth:`SQLiteBlockStore.save_block` is one transaction, so a block acknowledged by a
return survives ``kill -9``; with ``synchronous="FULL"`` (the default) it also survives
power loss. With ``"NORMAL"`` a commit costs no fsync (SQLite syncs at checkpoints and on
:meth:`SQLiteBlockStore.sync`): the last commits may roll back on power loss, never
corrupt the file. A validator uses ``NORMAL`` because its consensus write-ahead log is
the durable record of a decided height (see :mod:`flobc.node.consensus_log`); blocks and
commits are stored in their canonical MessagePack encoding.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from flobc.chain.store.base import StoreError, check_append
from flobc.chain.types import Block, Commit, CommittedBlock, tx_hash
from flobc.encoding import DecodeError, decode, encode

T = TypeVar("T")

#: The ``PRAGMA synchronous`` levels the store accepts.
SYNC_LEVELS = ("FULL", "NORMAL")

SCHEMA_VERSION = 1
_MAX_STORED = 1 << 31  # stored rows are trusted; only guard against absurd sizes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    height   INTEGER PRIMARY KEY,
    hash     BLOB NOT NULL,
    block    BLOB NOT NULL,
    commit_  BLOB NOT NULL,
    app_hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS txs (
    hash   BLOB PRIMARY KEY,
    height INTEGER NOT NULL,
    idx    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshot (
    id     INTEGER PRIMARY KEY CHECK (id = 0),
    height INTEGER NOT NULL,
    data   BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
"""


class SQLiteBlockStore:
    """:class:`~flobc.chain.store.base.BlockStore` in one SQLite file.

    The connection may be used from any thread; a lock serialises all access.
    """

    def __init__(self, path: Path | str, *, synchronous: str = "FULL") -> None:
        if synchronous not in SYNC_LEVELS:
            raise StoreError(f"synchronous must be one of {SYNC_LEVELS}, not {synchronous!r}")
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open block store {self.path}: {exc}") from exc
        self._conn: sqlite3.Connection | None = conn
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: cannot enable WAL journal (got {mode})")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise StoreError(f"{self.path}: unknown schema version {version}")
            with self._tx() as cur:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        cur.execute(stmt)
                cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (sqlite3.Error, StoreError) as exc:
            conn.close()
            self._conn = None
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot open block store {self.path}: {exc}") from exc
        self._height = self._query_height()

    # -- plumbing -------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the block store is closed")
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction: committed on success, rolled back on any exception."""
        with self._lock:
            conn = self._db()
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _one(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        with self._lock:
            try:
                row = self._db().execute(sql, args).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"block store read failed: {exc}") from exc
        return tuple(row) if row is not None else None

    def _query_height(self) -> int:
        row = self._one("SELECT MAX(height) FROM blocks")
        return int(row[0]) if row and row[0] is not None else 0

    @staticmethod
    def _decode(data: bytes, typ: type[T]) -> T:
        try:
            return decode(data, typ, max_bytes=_MAX_STORED)
        except DecodeError as exc:
            raise StoreError(f"stored {typ.__name__} is corrupt: {exc}") from exc

    # -- writes ---------------------------------------------------------------------------

    def save_block(
        self, block: Block, commit: Commit, app_hash: bytes, app_snapshot: bytes | None
    ) -> None:
        h = block.height
        with self._lock:
            stored_row = self._one("SELECT hash, app_hash FROM blocks WHERE height = ?", h)
            stored = (bytes(stored_row[0]), bytes(stored_row[1])) if stored_row else None
            if not check_append(
                self._height, stored, self.block_hash(h - 1), block, commit, app_hash
            ):
                return
            rows = [(tx_hash(raw), h, i) for i, raw in enumerate(block.txs)]
            try:
                with self._tx() as cur:
                    cur.execute(
                        "INSERT INTO blocks (height, hash, block, commit_, app_hash)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (h, block.hash, encode(block), encode(commit), bytes(app_hash)),
                    )
                    cur.executemany("INSERT OR IGNORE INTO txs VALUES (?, ?, ?)", rows)
                    if app_snapshot is not None:
                        cur.execute(
                            "INSERT OR REPLACE INTO snapshot (id, height, data) VALUES (0, ?, ?)",
                            (h, bytes(app_snapshot)),
                        )
            except sqlite3.Error as exc:
                raise StoreError(f"cannot save block {h}: {exc}") from exc
            self._height = h

    def set_meta(self, key: str, value: bytes) -> None:
        try:
            with self._tx() as cur:
                cur.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, bytes(value)))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write meta {key!r}: {exc}") from exc

    def sync(self) -> None:
        """Make every saved block durable against power loss (a full checkpoint, which
        syncs the SQLite WAL and the database file); cheap when nothing is pending."""
        with self._lock:
            try:
                self._db().execute("PRAGMA wal_checkpoint(FULL)").fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot sync the block store: {exc}") from exc

    # -- reads ----------------------------------------------------------------------------

    def height(self) -> int:
        with self._lock:
            self._db()
            return self._height

    def block(self, height: int) -> Block | None:
        row = self._one("SELECT block FROM blocks WHERE height = ?", height)
        return self._decode(row[0], Block) if row else None

    def commit(self, height: int) -> Commit | None:
        row = self._one("SELECT commit_ FROM blocks WHERE height = ?", height)
        return self._decode(row[0], Commit) if row else None

    def committed_block(self, height: int) -> CommittedBlock | None:
        row = self._one("SELECT block, commit_ FROM blocks WHERE height = ?", height)
        if row is None:
            return None
        return CommittedBlock(self._decode(row[0], Block), self._decode(row[1], Commit))

    def block_hash(self, height: int) -> bytes | None:
        row = self._one("SELECT hash FROM blocks WHERE height = ?", height)
        return bytes(row[0]) if row else None

    def app_hash(self, height: int) -> bytes | None:
        row = self._one("SELECT app_hash FROM blocks WHERE height = ?", height)
        return bytes(row[0]) if row else None

    def latest_snapshot(self) -> tuple[int, bytes] | None:
        row = self._one("SELECT height, data FROM snapshot WHERE id = 0")
        return (int(row[0]), bytes(row[1])) if row else None

    def has_tx(self, tx_hash: bytes) -> bool:
        return self._one("SELECT 1 FROM txs WHERE hash = ?", tx_hash) is not None

    def tx_hashes(self, limit: int) -> list[bytes] | None:
        with self._lock:
            try:
                db = self._db()
                if db.execute("SELECT COUNT(*) FROM txs").fetchone()[0] > limit:
                    return None
                rows = db.execute("SELECT hash FROM txs ORDER BY height, idx").fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"block store read failed: {exc}") from exc
        return [bytes(r[0]) for r in rows]

    def tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        row = self._one("SELECT height, idx FROM txs WHERE hash = ?", tx_hash)
        return (int(row[0]), int(row[1])) if row else None

    def get_meta(self, key: str) -> bytes | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", key)
        return bytes(row[0]) if row else None

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database; further calls raise :class:`StoreError`. Idempotent."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SQLiteBlockStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
