"""The validator node: consensus, mempool, block sync and the application, wired together.

:class:`ValidatorNode` is itself a sans-I/O :class:`~flobc.node.process.Process`: the HTTP
runtime and the simulator drive the very same object. It does local disk I/O only through
the storage interfaces (block store, blob store, write-ahead log, sign guard), so the
simulator can hand it in-memory backends and keep them across a simulated crash.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import msgspec

from flobc.app.abci import Application, BlockResult, TxCheck
from flobc.chain.block_time import block_time
from flobc.chain.genesis import Genesis
from flobc.chain.types import (
    Block,
    BlockHeader,
    Commit,
    CommittedBlock,
    Proposal,
    SignedTx,
    Vote,
    commit_hash,
    tx_hash,
    txs_root,
)
from flobc.chain.validators import CommitError
from flobc.chain.verify import BlockError, verify_block
from flobc.consensus import messages as cm
from flobc.consensus.tendermint import Tendermint
from flobc.crypto.keys import KeyPair
from flobc.encoding import DecodeError, decode, sha256
from flobc.node.consensus_log import ConsensusLog
from flobc.node.errors import FatalNodeError
from flobc.node.mempool import Mempool
from flobc.node.process import Action, Broadcast, Send, SetTimer
from flobc.node.wire import (
    BlobRequest,
    BlobResponse,
    BlockRequest,
    BlockResponse,
    PeerMessage,
    Status,
    TxGossip,
)

log = logging.getLogger("flobc.node")

CommitListener = Callable[[Block, BlockResult, int], list[Action]]

#: A missing blob is asked for again after this long.
BLOB_RETRY_MS = 1000
#: How many recently committed transaction hashes are kept in memory for duplicate checks.
RECENT_TXS = 200_000


@dataclass(frozen=True)
class NodeConfig:
    #: How often status is gossiped and, while stuck, own votes are re-broadcast.
    gossip_interval_ms: int = 250
    mempool_max_txs: int = 20_000


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
        self.clog = consensus_log
        self.config = config or NodeConfig()
        self.mempool = Mempool(self.config.mempool_max_txs)
        self.peers = [
            v.address.hex() for v in self.vset.validators if key is None or v.address != key.address
        ]
        self.consensus = Tendermint(self.chain_id, self.vset, self.me, self.params)
        #: validity requests held back until the blobs their block references arrive
        self._awaiting: dict[bytes, cm.ValidateProposal] = {}
        self.commit_listeners: list[CommitListener] = []
        self._propose_pending: tuple[int, int] | None = None
        self._last_commit_at = 0
        self._stuck_ticks = 0
        self._tick_height = 0
        #: blobs a proposal needs -> the peer to ask (its proposer); and when each was asked
        self._wanted_blobs: dict[bytes, str] = {}
        self._asked_at: dict[bytes, int] = {}
        self._synced: CommittedBlock | None = None
        self._peer_heights: dict[str, int] = {}
        self._now = 0
        self._recent_txs: set[bytes] = set()
        self._recent_order: deque[bytes] = deque()

    # ------------------------------------------------------------------ Process API

    @property
    def height(self) -> int:
        """The height being decided (one above the last committed block)."""
        return self.consensus.height

    def start(self, now_ms: int) -> list[Action]:
        self._now = now_ms
        height, _ = self.app.info()
        snap = self.store.latest_snapshot()
        if snap is not None and snap[0] != height:
            self.app.restore(*snap)
        last = self.store.height()
        if self.app.info()[0] != last:
            raise FatalNodeError(f"app state is at {self.app.info()[0]} but blocks at {last}")
        prev_time = self._header(last).time_ms if last else self.genesis.genesis_time_ms
        self._last_commit_at = now_ms
        out = self._consensus_actions(self.consensus.start_height(last + 1, prev_time, now_ms))
        out += self._replay_log()
        out.append(SetTimer("gossip", now_ms + self.config.gossip_interval_ms))
        return out

    def on_message(self, sender: str, msg: Any, now_ms: int) -> list[Action]:
        self._now = now_ms
        if isinstance(msg, (Proposal, Vote)):
            out = self._behind_check(sender, msg.height)
            ev: cm.Event = (
                cm.ProposalReceived(msg) if isinstance(msg, Proposal) else cm.VoteReceived(msg)
            )
            return out + self._feed(ev)
        if isinstance(msg, TxGossip):
            return self._on_gossip(msg)
        if isinstance(msg, Status):
            self._peer_heights[sender] = msg.height
            return self._behind_check(sender, msg.height)
        if isinstance(msg, BlockRequest):
            cb = self.store.committed_block(msg.height)
            return [Send(sender, BlockResponse(cb))] if cb is not None else []
        if isinstance(msg, BlockResponse):
            return self._on_synced_block(sender, msg.block)
        if isinstance(msg, BlobRequest):
            # One blob per message keeps each under the message size limit.
            found = [b for h in msg.hashes[:16] if (b := self.blobs.get(h)) is not None]
            return [Send(sender, BlobResponse([b])) for b in found]
        if isinstance(msg, BlobResponse):
            return self._on_blobs(msg.blobs)
        return []

    def on_timer(self, name: Hashable, now_ms: int) -> list[Action]:
        self._now = now_ms
        if name == "gossip":
            return self._gossip_tick()
        if name == "propose":
            return self._propose_now()
        if isinstance(name, cm.TimeoutKey):
            return self._feed(cm.TimeoutFired(name))
        return []

    # ------------------------------------------------------------------ transactions

    def submit_tx(
        self, raw: bytes, blobs: list[bytes], now_ms: int
    ) -> tuple[TxCheck, list[Action]]:
        """A client's transaction (with the blobs it references): check, admit, gossip."""
        self._now = now_ms
        check = self._admit(raw, blobs)
        if not check.ok:
            return check, []
        out: list[Action] = [Broadcast(TxGossip([raw], blobs))]
        return check, out + self._maybe_propose()

    def _admit(self, raw: bytes, blobs: list[bytes]) -> TxCheck:
        try:
            tx = decode(raw, SignedTx)
        except DecodeError as exc:
            return TxCheck(400, f"malformed transaction: {exc}")
        h = tx_hash(raw)
        if h in self.mempool or self._committed_tx(h):
            return TxCheck(409, "duplicate transaction")
        if self.mempool.full():
            return TxCheck(429, "mempool full")
        check = self.app.check_tx(tx)
        if not check.ok:
            return check
        given = {sha256(b): b for b in blobs}
        for need in self.app.required_blobs(tx):
            if need in given:
                content = self.app.check_blob(tx, given[need])
                if not content.ok:
                    return content
                self.blobs.put(given[need])
            elif not self.blobs.has(need):
                return TxCheck(422, f"missing blob {need.hex()} (upload it with the transaction)")
        self.mempool.add(h, raw, tx)
        return check

    def _on_gossip(self, msg: TxGossip) -> list[Action]:
        for raw in msg.txs[: self.params.max_block_txs]:
            self._admit(raw, msg.blobs)
        return self._maybe_propose()

    # ------------------------------------------------------------------ consensus glue

    def _feed(self, event: cm.Event) -> list[Action]:
        self.clog.record(event, self._now)
        return self._consensus_actions(self.consensus.handle(event, self._now))

    def _consensus_actions(self, actions: list[cm.Action], replay: bool = False) -> list[Action]:
        out: list[Action] = []
        queue = list(actions)
        while queue:
            a = queue.pop(0)
            if isinstance(a, (cm.SignVote, cm.SignProposal)):
                signed = self.clog.sign(a, self.key, self.chain_id)
                if signed is None:
                    continue
                if not replay:
                    out.append(Broadcast(signed))
                ev: cm.Event = (
                    cm.VoteReceived(signed, trusted=True)
                    if isinstance(signed, Vote)
                    else cm.ProposalReceived(signed, trusted=True)
                )
                if not replay:
                    self.clog.record(ev, self._now, sync=True)
                queue += self.consensus.handle(ev, self._now)
            elif isinstance(a, cm.ScheduleTimeout):
                out.append(SetTimer(a.key, self._now + a.delay_ms))
            elif isinstance(a, cm.ValidateProposal):
                if not replay:  # replayed verdicts come from the log
                    queue += self._answer_validity(a)
            elif isinstance(a, cm.RequestProposal):
                self._propose_pending = (a.height, a.round)
                out += self._maybe_propose()
            elif isinstance(a, cm.Decide):
                out += self._commit(a.block, a.commit)
            elif isinstance(a, cm.Misbehaviour):
                log.warning(
                    "validator %d misbehaved at %d/%d: %s", a.validator, a.height, a.round, a.what
                )
        if self._wanted_blobs:
            out += self._request_blobs()
        return out

    def _answer_validity(self, request: cm.ValidateProposal) -> list[cm.Action]:
        """Feed ``valid(v)`` back, or hold the request while referenced blobs are missing."""
        verdict = self._validate(request.block)
        if verdict == cm.Validity.PENDING:
            self._awaiting[request.block.hash] = request
            return []
        self._awaiting.pop(request.block.hash, None)
        ev = cm.ProposalValidity(
            request.height, request.round, request.block.hash, verdict == cm.Validity.VALID
        )
        self.clog.record(ev, self._now)
        return self.consensus.handle(ev, self._now)

    def _request_blobs(self) -> list[Action]:
        """Ask each proposal's proposer (it holds them) for missing blobs, once a second."""
        by_peer: dict[str, list[bytes]] = {}
        for h, peer in sorted(self._wanted_blobs.items()):
            if self._now - self._asked_at.get(h, -(10**12)) >= BLOB_RETRY_MS:
                self._asked_at[h] = self._now
                target = peer if peer in self.peers else (self.peers[0] if self.peers else "")
                by_peer.setdefault(target, []).append(h)
        self._wanted_blobs.clear()
        if len(self._asked_at) > 4096:
            self._asked_at.clear()
        return [Send(p, BlobRequest(hs[:16])) for p, hs in sorted(by_peer.items()) if p]

    def _replay_log(self) -> list[Action]:
        """Rebuild this height's consensus state from the write-ahead log after a restart."""
        out: list[Action] = []
        started = self._now
        for now, event in self.clog.replay(self.height):
            self._now = now
            out += self._consensus_actions(self.consensus.handle(event, now), replay=True)
        self._now = started
        # Verdicts the log lacks (the crash came before they were given) are asked again.
        return out + self._consensus_actions(list(self.consensus.awaited_validity()))

    def _maybe_propose(self) -> list[Action]:
        if self._propose_pending is None:
            return []
        if len(self.mempool) == 0:
            due = self._last_commit_at + self.params.empty_block_interval_ms
            if self._now < due and self._propose_pending[1] == 0:
                return [SetTimer("propose", due)]
        return self._propose_now()

    def _propose_now(self) -> list[Action]:
        if self._propose_pending is None:
            return []
        h, r = self._propose_pending
        self._propose_pending = None
        if (h, r) != (self.consensus.height, self.consensus.round):
            return []
        return self._feed(cm.ProposalReady(h, r, self._build_block(h, r)))

    def _header(self, height: int) -> BlockHeader:
        block = self.store.block(height)
        assert block is not None, f"missing block {height}"
        return block.header

    def _build_block(self, height: int, round_: int) -> Block:
        assert self.key is not None
        parent = self._header(height - 1) if height > 1 else None
        last_commit = self.store.commit(height - 1) if height > 1 else None
        txs = self.mempool.reap(self.params.max_block_txs, self.params.max_block_bytes)
        time_ms = block_time(
            height,
            self.genesis.genesis_time_ms,
            parent.time_ms if parent else 0,
            last_commit,
            self.vset,
        )
        header = BlockHeader(
            self.chain_id,
            height,
            round_,
            time_ms,
            self.key.address,
            parent.hash if parent else b"",
            txs_root(txs),
            commit_hash(last_commit),
            self.app.info()[1],
            self.vset.hash,
        )
        keep = self.app.prepare_proposal(header, [decode(raw, SignedTx) for raw in txs])
        txs = [txs[i] for i in keep]
        header = msgspec.structs.replace(header, tx_root=txs_root(txs))
        return Block(header, txs, last_commit)

    def _check_block(self, block: Block) -> list[SignedTx]:
        """Everything but data availability and the app's verdict; raise BlockError."""
        h = block.header.height
        verify_block(
            block,
            chain_id=self.chain_id,
            vset=self.vset,
            genesis_time_ms=self.genesis.genesis_time_ms,
            parent=self._header(h - 1) if h > 1 else None,
            app_hash=self.app.info()[1],
            max_txs=self.params.max_block_txs,
            max_bytes=self.params.max_block_bytes,
        )
        txs: list[SignedTx] = []
        seen: set[bytes] = set()
        for raw in block.txs:
            th = tx_hash(raw)
            if th in seen or self._committed_tx(th):
                raise BlockError("duplicate or already committed transaction")
            seen.add(th)
            try:
                txs.append(decode(raw, SignedTx))
            except DecodeError as exc:
                raise BlockError(f"malformed transaction: {exc}") from exc
        return txs

    def _committed_tx(self, th: bytes) -> bool:
        """Whether ``th`` is on the ledger (recent commits answer from memory)."""
        return th in self._recent_txs or self.store.has_tx(th)

    def _missing_blobs(self, txs: list[SignedTx]) -> set[bytes]:
        return {b for tx in txs for b in self.app.required_blobs(tx) if not self.blobs.has(b)}

    def _validate(self, block: Block) -> cm.Validity:
        try:
            txs = self._check_block(block)
        except BlockError as exc:
            log.info("invalid proposal at %d: %s", block.header.height, exc)
            return cm.Validity.INVALID
        missing = self._missing_blobs(txs)
        if missing:
            proposer = block.header.proposer.hex()
            for h in missing:
                self._wanted_blobs[h] = proposer
            return cm.Validity.PENDING
        ok = self.app.process_proposal(block.header, txs)
        return cm.Validity.VALID if ok else cm.Validity.INVALID

    # ------------------------------------------------------------------ commit and sync

    def _commit(self, block: Block, commit: Commit) -> list[Action]:
        txs = [decode(raw, SignedTx) for raw in block.txs]
        result = self.app.finalize_block(block.header, txs)
        snapshot = self.app.commit()
        self.store.save_block(block, commit, result.app_hash, snapshot)
        self.clog.reset()
        self._awaiting.clear()
        hashes = [tx_hash(raw) for raw in block.txs]
        self.mempool.remove(hashes)
        self._recent_txs.update(hashes)
        self._recent_order.extend(hashes)
        while len(self._recent_order) > RECENT_TXS:
            self._recent_txs.discard(self._recent_order.popleft())
        self.mempool.recheck(lambda tx: self.app.check_tx(tx).ok)
        self._last_commit_at = self._now
        self._propose_pending = None
        out: list[Action] = []
        for listener in self.commit_listeners:
            out += listener(block, result, self._now)
        out += self._consensus_actions(
            self.consensus.start_height(block.height + 1, block.header.time_ms, self._now)
        )
        return out

    def _behind_check(self, peer: str, peer_height: int) -> list[Action]:
        """Ask ``peer`` for our current height's block when it is already past it."""
        if peer_height > self.height and peer in self.peers:
            return [Send(peer, BlockRequest(self.height))]
        return []

    def _on_synced_block(self, sender: str, cb: CommittedBlock) -> list[Action]:
        block = cb.block
        if block.height != self.height:
            return []
        try:
            self.vset.verify_commit(self.chain_id, cb.commit, block.height, block.hash)
            if block.header.app_hash != self.app.info()[1]:
                raise FatalNodeError(
                    f"app hash divergence at height {block.height - 1}: ours "
                    f"{self.app.info()[1].hex()}, committed {block.header.app_hash.hex()}"
                )
            txs = self._check_block(block)
        except (CommitError, BlockError) as exc:
            log.warning("rejected synced block %d from %s: %s", block.height, sender, exc)
            return []
        missing = self._missing_blobs(txs)
        if missing:
            self._synced = cb
            return [Send(sender, BlobRequest(sorted(missing)[:16]))]
        out = self._commit(block, cb.commit)
        if self._peer_heights.get(sender, 0) > self.height:
            out.append(Send(sender, BlockRequest(self.height)))
        return out

    def _on_blobs(self, blobs: list[bytes]) -> list[Action]:
        for b in blobs:
            self.blobs.put(b)
        waiting = [a for a in self._awaiting.values() if a.height == self.height]
        self._awaiting.clear()
        out = self._consensus_actions(list(waiting))
        if self._synced is not None:
            cb, self._synced = self._synced, None
            out += self._on_synced_block(self.peers[0] if self.peers else "", cb)
        return out

    def _gossip_tick(self) -> list[Action]:
        out: list[Action] = [
            SetTimer("gossip", self._now + self.config.gossip_interval_ms),
            Broadcast(Status(self.height, self.consensus.round)),
        ]
        if self._tick_height == self.height:
            self._stuck_ticks += 1
            if self._stuck_ticks >= 2:
                out += [Broadcast(m) for m in self.consensus.own_messages()]
        else:
            self._tick_height, self._stuck_ticks = self.height, 0
        return out

    # ------------------------------------------------------------------ queries

    def status(self) -> dict[str, Any]:
        last = self.store.height()
        return {
            "node_id": self.node_id,
            "chain_id": self.chain_id,
            "validator_index": self.me,
            "height": last,
            "latest_block_hash": (self.store.block_hash(last) or b"").hex(),
            "app_hash": self.app.info()[1].hex(),
            "round": self.consensus.round,
            "step": self.consensus.step.name.lower(),
            "mempool": len(self.mempool),
            "peers": {p: self._peer_heights.get(p) for p in self.peers},
        }
