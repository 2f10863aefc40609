"""The mempool: admitted transactions waiting to be proposed, in arrival order.

A transaction leaves it only when a block commits it (:meth:`Mempool.remove`) or when the
state after a block no longer admits it (:meth:`Mempool.recheck`: a replayed nonce, an FL
update whose round was released without it). Capacity never evicts (a full pool refuses
new transactions: 429 to a client, ignored from a peer's gossip), peers' gossip only adds,
and :meth:`Mempool.reap` only reads; admission refuses a transaction larger than a block,
which :meth:`reap`, taking the oldest first, could never include and which would stall
every transaction behind it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator

from flobc.chain.types import SignedTx


class Mempool:
    """Bounded FIFO of checked transactions, keyed by transaction hash."""

    def __init__(self, max_txs: int = 20_000, max_bytes: int = 256 * 1024 * 1024):
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self._txs: OrderedDict[bytes, tuple[bytes, SignedTx]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._txs

    def full(self) -> bool:
        return len(self._txs) >= self.max_txs or self._bytes >= self.max_bytes

    def add(self, tx_hash: bytes, raw: bytes, tx: SignedTx) -> bool:
        """Add a checked transaction; False if it is already there or the pool is full."""
        if tx_hash in self._txs or self.full():
            return False
        self._txs[tx_hash] = (raw, tx)
        self._bytes += len(raw)
        return True

    def remove(self, hashes: Iterable[bytes]) -> None:
        for h in hashes:
            item = self._txs.pop(h, None)
            if item is not None:
                self._bytes -= len(item[0])

    def reap(self, max_txs: int, max_bytes: int) -> list[bytes]:
        """The oldest transactions that fit in a block."""
        out: list[bytes] = []
        size = 0
        for raw, _ in self._txs.values():
            if len(out) >= max_txs or size + len(raw) > max_bytes:
                break
            out.append(raw)
            size += len(raw)
        return out

    def pending(self) -> Iterator[tuple[bytes, SignedTx]]:
        """Every transaction in arrival order, as (hash, decoded): what admission already
        decoded, for readers that need no block-sized slice."""
        for h, (_, tx) in self._txs.items():
            yield h, tx

    def recheck(self, refusal: Callable[[SignedTx], str | None]) -> dict[bytes, str]:
        """Drop transactions the new committed state no longer admits (``refusal`` says
        why, None: still admitted); return them with the reasons."""
        dropped: dict[bytes, str] = {}
        for h, (_, tx) in self._txs.items():
            why = refusal(tx)
            if why is not None:
                dropped[h] = why
        self.remove(dropped)
        return dropped
