"""The narrow, ABCI-like boundary between consensus and the state machine it orders.

Consensus knows nothing about federated learning: it orders opaque transactions and asks
the application four things. Every method must be deterministic given the committed
state and its arguments: no clocks, no local files, no randomness, no ML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from flobc.chain.store.base import BlockStore
from flobc.chain.types import BlockHeader, SignedTx
from flobc.encoding import decode


@dataclass(frozen=True)
class TxCheck:
    """Result of checking a transaction. ``code`` 0 means accepted; otherwise an HTTP-like 4xx."""

    code: int = 0
    message: str = ""
    #: SHA-256 hashes of blobs the transaction references (data availability).
    blobs: tuple[bytes, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass(frozen=True)
class TxResult:
    code: int = 0
    message: str = ""
    events: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class BlockResult:
    """What executing a block produced: the new app hash and one result per transaction."""

    app_hash: bytes
    tx_results: list[TxResult] = field(default_factory=list)


class Application(Protocol):
    """What consensus needs from an application."""

    def info(self) -> tuple[int, bytes]:
        """(last executed height, app hash after it)."""
        ...

    def check_tx(self, tx: SignedTx) -> TxCheck:
        """Admission check against the latest committed state (mempool entry)."""
        ...

    def required_blobs(self, tx: SignedTx) -> tuple[bytes, ...]:
        """Hashes of the blobs ``tx`` references; it is only voted for once they are held."""
        ...

    def check_blob(self, tx: SignedTx, data: bytes) -> TxCheck:
        """Content checks of a blob ``tx`` references, before the node stores it."""
        ...

    def prepare_proposal(self, header: BlockHeader, txs: list[SignedTx]) -> list[int]:
        """The proposer's pick: indices of ``txs`` (mempool order) for its block, in order."""
        ...

    def process_proposal(self, header: BlockHeader, txs: list[SignedTx]) -> bool:
        """Whether a proposed block's transactions are acceptable (validity of a proposal)."""
        ...

    def finalize_block(self, header: BlockHeader, txs: list[SignedTx]) -> BlockResult:
        """Execute a committed block deterministically; the new state is pending until commit."""
        ...

    def commit(self) -> bytes | None:
        """Make the pending state the committed state; return its snapshot for storage, or
        None at heights that take none (the store keeps the last one; a restart replays
        the blocks since, see :func:`replay`)."""
        ...

    def restore(self, height: int, snapshot: bytes) -> None:
        """Load a snapshot returned by :meth:`commit` at ``height`` (restart from disk)."""
        ...

    def snapshot(self) -> bytes:
        """The committed state's snapshot, whatever the height."""
        ...

    def query(self, path: str, params: dict[str, Any]) -> Any:
        """Read-only queries for the wire API; raise KeyError for unknown things."""
        ...


class ReplayError(Exception):
    """Replaying stored blocks did not reproduce the stored app hashes (a divergence)."""


def replay(app: Application, store: BlockStore) -> int:
    """Bring ``app`` to the store's height: load the latest snapshot if it is ahead of the
    app, then re-execute every stored block after it, checking each app hash against the
    stored one. Returns how many blocks were replayed.

    Snapshots are taken every N blocks, not at every block, so this is how a restarted
    node recovers the blocks since the last one; a block's transactions and the blobs
    they reference are all on disk, so nothing acknowledged is lost.
    """
    height, _ = app.info()
    last = store.height()
    snap = store.latest_snapshot()
    if snap is not None and height < snap[0] <= last:
        app.restore(*snap)
        height = snap[0]
    if height > last:
        raise ReplayError(f"app state is at {height} but blocks only reach {last}")
    for h in range(height + 1, last + 1):
        block = store.block(h)
        if block is None:
            raise ReplayError(f"block {h} is missing from the store")
        txs = [decode(raw, SignedTx) for raw in block.txs]
        result = app.finalize_block(block.header, txs)
        stored = store.app_hash(h)
        if result.app_hash != stored:
            raise ReplayError(
                f"app hash divergence replaying block {h}: got {result.app_hash.hex()}, "
                f"stored {(stored or b'').hex()}"
            )
        app.commit()
    return last - height
