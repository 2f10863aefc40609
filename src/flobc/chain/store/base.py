"""The block store interface, its errors, and the append rules every backend enforces."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from flobc.chain.types import Block, Commit, CommittedBlock


class StoreError(Exception):
    """A write the store refuses, or stored data it cannot read back."""


class ConflictingBlockError(StoreError):
    """A different block (or app hash) than the one already stored at that height."""


@runtime_checkable
class BlockStore(Protocol):
    """Append-only chain of committed blocks (heights start at 1, no gaps).

    ``save_block`` is atomic: after it returns, the block, its commit, the app hash after
    executing it and the app snapshot (when one is given) are all durable, or none of them
    is. Snapshots are taken every N blocks: a save without one keeps the previous
    snapshot, and a restart replays the blocks after it (:func:`flobc.app.abci.replay`).
    """

    def save_block(
        self, block: Block, commit: Commit, app_hash: bytes, app_snapshot: bytes | None
    ) -> None:
        """Append ``block`` at ``height() + 1``; re-saving the stored block is a no-op."""
        ...

    def height(self) -> int:
        """Height of the last stored block; 0 when empty."""
        ...

    def block(self, height: int) -> Block | None: ...

    def commit(self, height: int) -> Commit | None: ...

    def committed_block(self, height: int) -> CommittedBlock | None: ...

    def block_hash(self, height: int) -> bytes | None: ...

    def app_hash(self, height: int) -> bytes | None:
        """App hash after executing the block at ``height``."""
        ...

    def latest_snapshot(self) -> tuple[int, bytes] | None:
        """``(height, snapshot)`` of the most recent save that carried one, or None."""
        ...

    def has_tx(self, tx_hash: bytes) -> bool: ...

    def tx_hashes(self, limit: int) -> list[bytes] | None:
        """Every indexed transaction hash in commit order, or None if there are more than
        ``limit`` (lets a node answer duplicate checks from memory)."""
        ...

    def tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        """``(height, index)`` of the first committed occurrence of a transaction."""
        ...

    def sync(self) -> None:
        """Make every saved block durable (a no-op where ``save_block`` already is)."""
        ...

    def set_meta(self, key: str, value: bytes) -> None: ...

    def get_meta(self, key: str) -> bytes | None: ...

    def close(self) -> None: ...


def check_append(
    current_height: int,
    stored: tuple[bytes, bytes] | None,
    prev_hash: bytes | None,
    block: Block,
    commit: Commit,
    app_hash: bytes,
) -> bool:
    """Validate a ``save_block`` call; return False when it re-saves what is stored.

    ``stored`` is ``(block_hash, app_hash)`` already at ``block.height`` (if any) and
    ``prev_hash`` the stored hash at ``block.height - 1`` (if any).
    """
    h = block.height
    if h < 1:
        raise StoreError(f"block height {h} is below 1")
    if commit.height != h or commit.block_hash != block.hash:
        raise StoreError(f"commit at height {commit.height} does not certify block {h}")
    if stored is not None:
        if stored != (block.hash, app_hash):
            raise ConflictingBlockError(f"a different block or app hash is stored at {h}")
        return False
    if h != current_height + 1:
        raise StoreError(f"cannot store height {h}: the store is at {current_height}")
    if h > 1 and block.header.prev_hash != prev_hash:
        raise StoreError(f"block {h} does not link to the stored block {h - 1}")
    return True
