"""An in-memory block store for the simulator and tests (nothing survives the process)."""

from __future__ import annotations

import threading

from flobc.chain.store.base import StoreError, check_append
from flobc.chain.types import Block, Commit, CommittedBlock, tx_hash


class MemoryBlockStore:
    """:class:`~flobc.chain.store.base.BlockStore` kept in dictionaries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks: list[tuple[Block, Commit, bytes]] = []  # index = height - 1
        self._snapshot: tuple[int, bytes] | None = None
        self._txs: dict[bytes, tuple[int, int]] = {}
        self._meta: dict[str, bytes] = {}
        self._closed = False

    def _get(self, height: int) -> tuple[Block, Commit, bytes] | None:
        self._check_open()
        return self._blocks[height - 1] if 1 <= height <= len(self._blocks) else None

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the block store is closed")

    def save_block(
        self, block: Block, commit: Commit, app_hash: bytes, app_snapshot: bytes | None
    ) -> None:
        with self._lock:
            entry = self._get(block.height)
            stored = (entry[0].hash, entry[2]) if entry else None
            prev = self._get(block.height - 1)
            prev_hash = prev[0].hash if prev else None
            if not check_append(len(self._blocks), stored, prev_hash, block, commit, app_hash):
                return
            self._blocks.append((block, commit, bytes(app_hash)))
            if app_snapshot is not None:
                self._snapshot = (block.height, bytes(app_snapshot))
            for i, raw in enumerate(block.txs):
                self._txs.setdefault(tx_hash(raw), (block.height, i))

    def height(self) -> int:
        self._check_open()
        return len(self._blocks)

    def block(self, height: int) -> Block | None:
        entry = self._get(height)
        return entry[0] if entry else None

    def commit(self, height: int) -> Commit | None:
        entry = self._get(height)
        return entry[1] if entry else None

    def committed_block(self, height: int) -> CommittedBlock | None:
        entry = self._get(height)
        return CommittedBlock(entry[0], entry[1]) if entry else None

    def block_hash(self, height: int) -> bytes | None:
        entry = self._get(height)
        return entry[0].hash if entry else None

    def app_hash(self, height: int) -> bytes | None:
        entry = self._get(height)
        return entry[2] if entry else None

    def latest_snapshot(self) -> tuple[int, bytes] | None:
        self._check_open()
        return self._snapshot

    def has_tx(self, tx_hash: bytes) -> bool:
        self._check_open()
        return tx_hash in self._txs

    def tx_hashes(self, limit: int) -> list[bytes] | None:
        self._check_open()
        if len(self._txs) > limit:
            return None
        return sorted(self._txs, key=self._txs.__getitem__)

    def tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        self._check_open()
        return self._txs.get(tx_hash)

    def sync(self) -> None:
        """Nothing to flush: the store lives in memory."""
        self._check_open()

    def set_meta(self, key: str, value: bytes) -> None:
        self._check_open()
        self._meta[key] = bytes(value)

    def get_meta(self, key: str) -> bytes | None:
        self._check_open()
        return self._meta.get(key)

    def close(self) -> None:
        self._closed = True
