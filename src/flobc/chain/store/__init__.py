"""Durable storage of committed blocks, commit certificates, app hashes and snapshots."""

from flobc.chain.store.base import BlockStore, ConflictingBlockError, StoreError
from flobc.chain.store.memory import MemoryBlockStore
from flobc.chain.store.sqlite import SQLiteBlockStore

__all__ = [
    "BlockStore",
    "ConflictingBlockError",
    "MemoryBlockStore",
    "SQLiteBlockStore",
    "StoreError",
]
