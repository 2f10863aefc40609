"""The validator node: one façade over the parts of a chain node.

:class:`ValidatorNode` is itself a sans-I/O :class:`~flobc.node.process.Process`: the HTTP
runtime and the simulator drive the very same object. It dispatches each input to one of
the parts in :mod:`flobc.node.chain` (consensus glue, transaction admission, gossip, block
sync, data availability, status), which share one :class:`~flobc.node.chain.context.NodeContext`.
It does local disk I/O only through the storage interfaces (block store, blob store,
write-ahead log, sign guard), so the simulator can hand it in-memory backends and keep
them across a simulated crash.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from flobc.app.abci import Application, ReplayError, TxCheck, replay
from flobc.chain.genesis import ConsensusParams, Genesis
from flobc.chain.types import Proposal, SignedTx, Vote
from flobc.chain.validators import ValidatorSet
from flobc.consensus import messages as cm
from flobc.consensus.tendermint import Tendermint
from flobc.crypto.keys import KeyPair
from flobc.node.chain.admission import TxAdmission
from flobc.node.chain.block_check import BlockChecker
from flobc.node.chain.block_sync import BlockSync
from flobc.node.chain.consensus_driver import CommitListener, ConsensusDriver
from flobc.node.chain.context import NodeConfig, NodeContext, NodeTimer
from flobc.node.chain.data_availability import BlobFetcher
from flobc.node.chain.gossip import Gossip
from flobc.node.chain.status import node_status
from flobc.node.consensus_log import ConsensusLog
from flobc.node.errors import FatalNodeError
from flobc.node.mempool import Mempool
from flobc.node.process import Action
from flobc.node.wire import (
    BlobRequest,
    BlobResponse,
    BlockRequest,
    BlockResponse,
    PeerMessage,
    Status,
    TxGossip,
)

__all__ = ["CommitListener", "NodeConfig", "ValidatorNode"]

T = TypeVar("T")


class _FromContext(Generic[T]):
    """A read-only node attribute that lives in the shared :class:`NodeContext`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, node: Any, owner: type | None = None) -> T:
        return getattr(node.ctx, self.name)  # type: ignore[no-any-return]


class ValidatorNode:
    """One validator (``key`` in the genesis set) or a non-voting full node (``key=None``)."""

    message_type = PeerMessage

    def __init__(
        self,
        genesis: Genesis,
        key: KeyPair | None,
        app: Application,
        *,
        store: Any,
        blobs: Any,
        consensus_log: ConsensusLog,
        config: NodeConfig | None = None,
    ):
        ctx = self.ctx = NodeContext(genesis, key, app, store, blobs, config or NodeConfig())
        self.clog = consensus_log
        self.admission = TxAdmission(ctx)
        self.fetcher = BlobFetcher(ctx)
        self.checker = BlockChecker(ctx, self.admission, self.fetcher)
        self.driver = ConsensusDriver(
            ctx, consensus_log, self.admission, self.checker, self.fetcher
        )
        self.sync = BlockSync(ctx, self.driver, self.checker, self.fetcher)
        self.gossip = Gossip(ctx, self.driver, self.admission)

    # ------------------------------------------------------------------ identity and parts

    genesis = _FromContext[Genesis]()
    chain_id = _FromContext[str]()
    params = _FromContext[ConsensusParams]()
    vset = _FromContext[ValidatorSet]()
    key = _FromContext["KeyPair | None"]()
    node_id = _FromContext[str]()
    me = _FromContext["int | None"]()
    app = _FromContext[Application]()
    store = _FromContext[Any]()
    blobs = _FromContext[Any]()
    config = _FromContext[NodeConfig]()
    peers = _FromContext["list[str]"]()

    @property
    def mempool(self) -> Mempool:
        return self.admission.mempool

    @property
    def consensus(self) -> Tendermint:
        return self.driver.consensus

    @property
    def commit_listeners(self) -> list[CommitListener]:
        """Called after each block is persisted; append to subscribe."""
        return self.driver.commit_listeners

    @commit_listeners.setter
    def commit_listeners(self, listeners: list[CommitListener]) -> None:
        self.driver.commit_listeners = listeners

    @property
    def height(self) -> int:
        """The height being decided (one above the last committed block)."""
        return self.driver.height

    # ------------------------------------------------------------------ Process API

    def start(self, now_ms: int) -> list[Action]:
        self.ctx.now = now_ms
        app, store = self.ctx.app, self.ctx.store
        try:
            replay(app, store)  # the last snapshot, then the blocks after it
        except ReplayError as exc:
            raise FatalNodeError(str(exc)) from exc
        last = store.height()
        if app.info()[0] != last:
            raise FatalNodeError(f"app state is at {app.info()[0]} but blocks at {last}")
        return self.driver.start() + self.gossip.start()

    def on_message(self, sender: str, msg: Any, now_ms: int) -> list[Action]:
        self.ctx.now = now_ms
        if isinstance(msg, (Proposal, Vote)):
            out = self.sync.behind_check(sender, msg.height)
            ev: cm.Event = (
                cm.ProposalReceived(msg) if isinstance(msg, Proposal) else cm.VoteReceived(msg)
            )
            return out + self.driver.feed(ev)
        if isinstance(msg, TxGossip):
            return self.gossip.on_txs(msg)
        if isinstance(msg, Status):
            return self.sync.on_status(sender, msg.height)
        if isinstance(msg, BlockRequest):
            return self.sync.serve(sender, msg)
        if isinstance(msg, BlockResponse):
            return self.sync.on_block(sender, msg.block)
        if isinstance(msg, BlobRequest):
            return self.fetcher.serve(sender, msg)
        if isinstance(msg, BlobResponse):
            self.fetcher.store(msg.blobs)
            return self.driver.data_arrived() + self.sync.retry()
        return []

    def on_timer(self, name: Hashable, now_ms: int) -> list[Action]:
        self.ctx.now = now_ms
        if isinstance(name, cm.TimeoutKey):
            return self.driver.feed(cm.TimeoutFired(name))
        if name == NodeTimer.GOSSIP:
            return self.gossip.tick()
        if name == NodeTimer.PROPOSE:
            return self.driver.propose_now()
        return []

    # ------------------------------------------------------------------ clients

    def submit_tx(
        self, raw: bytes, blobs: list[bytes], now_ms: int
    ) -> tuple[TxCheck, list[Action]]:
        """A client's transaction (with the blobs it references): check, admit, gossip."""
        self.ctx.now = now_ms
        check = self.admission.admit(raw, blobs)
        if not check.ok:
            return check, []
        return check, self.gossip.announce([(raw, blobs)]) + self.driver.txs_arrived()

    def submit_txs(
        self, items: list[tuple[bytes, SignedTx, list[bytes]]], now_ms: int
    ) -> tuple[list[TxCheck], list[Action]]:
        """A client's batch of decoded transactions (each with its blobs), each checked and
        admitted on its own, in order; the admitted ones go to the peers as one gossip
        message and the proposer is asked once."""
        self.ctx.now = now_ms
        checks: list[TxCheck] = []
        admitted: list[tuple[bytes, list[bytes]]] = []
        for raw, tx, blobs in items:
            check = self.admission.admit(raw, blobs, tx)
            checks.append(check)
            if check.ok:
                admitted.append((raw, blobs))
        if not admitted:
            return checks, []
        return checks, self.gossip.announce(admitted) + self.driver.txs_arrived()

    def status(self) -> dict[str, Any]:
        return node_status(self.ctx, self.driver, self.admission, self.sync)
