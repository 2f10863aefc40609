"""What every part of a node shares: identity, chain rules, application, storage, clock."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from flobc.app.abci import Application
from flobc.chain.genesis import Genesis
from flobc.chain.types import BlockHeader
from flobc.crypto.keys import KeyPair


@dataclass(frozen=True)
class NodeConfig:
    #: How often status is gossiped and, while stuck, own votes are re-broadcast.
    gossip_interval_ms: int = 250
    mempool_max_txs: int = 20_000


class NodeTimer(Enum):
    """The node's own timers; consensus timeouts are named by a ``TimeoutKey``."""

    GOSSIP = "gossip"
    PROPOSE = "propose"


class NodeContext:
    """One validator (``key`` in the genesis set) or a non-voting full node (``key=None``).

    ``now`` is the node's clock as of the event being handled; the façade sets it on every
    entry so the parts never read a clock themselves.
    """

    def __init__(
        self,
        genesis: Genesis,
        key: KeyPair | None,
        app: Application,
        store: Any,
        blobs: Any,
        config: NodeConfig,
    ):
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.params = genesis.consensus
        self.vset = genesis.validator_set()
        self.key = key
        self.node_id = key.node_id if key else "observer"
        self.me = self.vset.index_of(key.address) if key else None
        self.app = app
        self.store = store
        self.blobs = blobs
        self.config = config
        self.peers = [
            v.address.hex() for v in self.vset.validators if key is None or v.address != key.address
        ]
        self.now = 0

    def header(self, height: int) -> BlockHeader:
        """The header of committed block ``height`` (which must exist)."""
        block = self.store.block(height)
        assert block is not None, f"missing block {height}"
        return block.header
