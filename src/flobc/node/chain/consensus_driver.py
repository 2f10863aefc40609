"""Consensus glue: runs this node's Tendermint state machine and carries out its effects.

Every input is written to the consensus log before the machine sees it. The machine's
effects become runtime actions here: votes and proposals are signed through the sign
guard, broadcast and fed back; timeouts become timers named by their ``TimeoutKey``;
``ValidateProposal`` is answered with the node's verdict (held back while blobs are
missing); ``RequestProposal`` builds a block from the mempool; ``Decide`` executes and
persists the block, tells the commit listeners and enters the next height.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flobc.app.abci import BlockResult
from flobc.chain.types import NIL, Block, Commit, Proposal, SignedTx, Vote
from flobc.consensus import messages as cm
from flobc.consensus.tendermint import Tendermint
from flobc.encoding import decode
from flobc.node.chain.admission import TxAdmission
from flobc.node.chain.block_builder import build_block
from flobc.node.chain.block_check import BlockChecker
from flobc.node.chain.context import NodeContext, NodeTimer
from flobc.node.chain.data_availability import BlobFetcher
from flobc.node.consensus_log import ConsensusLog
from flobc.node.process import Action, Broadcast, CancelTimer, SetTimer

log = logging.getLogger("flobc.node")

#: ``listener(block, result, now_ms) -> actions``, called after each block is persisted.
CommitListener = Callable[[Block, BlockResult, int], list[Action]]


class ConsensusDriver:
    """Owns the state machine, the pending proposal request and block execution."""

    def __init__(
        self,
        ctx: NodeContext,
        clog: ConsensusLog,
        admission: TxAdmission,
        checker: BlockChecker,
        fetcher: BlobFetcher,
    ):
        self.ctx = ctx
        self.clog = clog
        self.admission = admission
        self.checker = checker
        self.fetcher = fetcher
        self.consensus = Tendermint(ctx.chain_id, ctx.vset, ctx.me, ctx.params)
        self.commit_listeners: list[CommitListener] = []
        self.last_commit_at = 0
        self._propose_pending: tuple[int, int] | None = None
        #: validity requests held back until the blobs their block references arrive
        self._awaiting: dict[bytes, cm.ValidateProposal] = {}
        #: consensus timers set at this height and not yet fired
        self._timers: set[cm.TimeoutKey] = set()
        #: the height at which the state machine last heard that transactions are pending
        self._txs_told = 0

    @property
    def height(self) -> int:
        """The height being decided (one above the last committed block)."""
        return self.consensus.height

    def start(self) -> list[Action]:
        """Enter the height above the last committed block and replay its log."""
        ctx = self.ctx
        last = ctx.store.height()
        prev_time = ctx.header(last).time_ms if last else ctx.genesis.genesis_time_ms
        self.last_commit_at = ctx.now
        out = self.execute(self.consensus.start_height(last + 1, prev_time, ctx.now))
        return out + self._replay_log()

    def feed(self, event: cm.Event) -> list[Action]:
        """Log ``event``, hand it to the state machine and carry out what follows.

        A timeout of another height or round is dropped unlogged: the machine ignores it
        (its rules are applied after every event, so one that changes nothing fires no
        rule), and replay without it reaches the same state."""
        if isinstance(event, cm.TimeoutFired):
            k = event.key
            self._timers.discard(k)
            if (k.height, k.round) != (self.consensus.height, self.consensus.round):
                return []
        self.clog.record(event, self.ctx.now)
        return self.execute(self.consensus.handle(event, self.ctx.now))

    def execute(self, actions: list[cm.Action], replay: bool = False) -> list[Action]:
        """Carry out the machine's effects (and those they lead to), in order."""
        ctx = self.ctx
        out: list[Action] = []
        queue = list(actions)
        while queue:
            a = queue.pop(0)
            if isinstance(a, (cm.SignVote, cm.SignProposal)):
                signed = self.clog.sign(a, ctx.key, ctx.chain_id)
                if signed is None:
                    continue
                if not replay:
                    out.append(Broadcast(signed))
                ev: cm.Event = (
                    cm.VoteReceived(signed, trusted=True)
                    if isinstance(signed, Vote)
                    else cm.ProposalReceived(signed, trusted=True)
                )
                if not replay:  # a nil vote needs no fsync: see flobc.node.consensus_log
                    self.clog.record(ev, ctx.now, sync=not _is_nil_vote(signed))
                queue += self.consensus.handle(ev, ctx.now)
            elif isinstance(a, cm.ScheduleTimeout):
                self._timers.add(a.key)
                out.append(SetTimer(a.key, ctx.now + a.delay_ms))
            elif isinstance(a, cm.ValidateProposal):
                if not replay:  # replayed verdicts come from the log
                    queue += self._answer_validity(a)
            elif isinstance(a, cm.RequestProposal):
                self._propose_pending = (a.height, a.round)
                if not replay:  # a replayed proposal comes from the log
                    out += self.maybe_propose()
            elif isinstance(a, cm.Decide):
                out += self.commit(a.block, a.commit, replay=replay)
            elif isinstance(a, cm.Misbehaviour):
                log.warning(
                    "validator %d misbehaved at %d/%d: %s", a.validator, a.height, a.round, a.what
                )
        return out + self.fetcher.requests()

    def _answer_validity(self, request: cm.ValidateProposal) -> list[cm.Action]:
        """Feed ``valid(v)`` back, or hold the request while referenced blobs are missing."""
        verdict = self.checker.validate(request.block)
        if verdict == cm.Validity.PENDING:
            self._awaiting[request.block.hash] = request
            return []
        self._awaiting.pop(request.block.hash, None)
        ev = cm.ProposalValidity(
            request.height, request.round, request.block.hash, verdict == cm.Validity.VALID
        )
        self.clog.record(ev, self.ctx.now)
        return self.consensus.handle(ev, self.ctx.now)

    def data_arrived(self) -> list[Action]:
        """Blobs arrived: ask again for the verdicts that waited on data."""
        waiting = [a for a in self._awaiting.values() if a.height == self.height]
        self._awaiting.clear()
        return self.execute(list(waiting))

    def _replay_log(self) -> list[Action]:
        """Rebuild the consensus state from the write-ahead log after a restart: this
        height's events, and those of later heights when the block store lagged the log
        (each height decided again on the way is executed and saved as it was live)."""
        ctx = self.ctx
        out: list[Action] = []
        started, replayed = ctx.now, False
        for _, now, event in self.clog.replay_from(self.height):
            ctx.now, replayed = now, True
            if isinstance(event, cm.ProposalReady) and self._propose_pending == (
                event.height,
                event.round,
            ):
                self._propose_pending = None  # the log holds the block proposed then
            out += self.execute(self.consensus.handle(event, now), replay=True)
        ctx.now = max(started, ctx.now)
        # Verdicts the log lacks (the crash came before they were given) are asked again,
        # and a proposal the crash kept this node from making is made now.
        out += self.execute(list(self.consensus.awaited_validity()))
        return out + (self.maybe_propose() if replayed else [])

    # ------------------------------------------------------------------ proposing

    def txs_arrived(self) -> list[Action]:
        """Transactions were admitted: tell the state machine (once per height) and
        propose if it is our turn."""
        return self.txs_available() + self.maybe_propose()

    def txs_available(self) -> list[Action]:
        """Feed :class:`~flobc.consensus.messages.TxsAvailable` once per height while the
        mempool holds transactions (round 0's propose timeout stops waiting for the
        empty-block interval)."""
        if self._txs_told == self.height or not len(self.admission.mempool):
            return []
        self._txs_told = self.height
        return self.feed(cm.TxsAvailable(self.height))

    def maybe_propose(self) -> list[Action]:
        """Propose now, or, in round 0, once ``timeout_commit_ms`` has passed since the last
        commit (transactions pending) or ``empty_block_interval_ms`` (none pending). A
        transaction arriving during the empty-block wait moves the timer earlier."""
        if self._propose_pending is None:
            return []
        p = self.ctx.params
        wait = p.timeout_commit_ms if len(self.admission.mempool) else p.empty_block_interval_ms
        due = self.last_commit_at + wait
        if self.ctx.now < due and self._propose_pending[1] == 0:
            return [SetTimer(NodeTimer.PROPOSE, due)]
        return self.propose_now()

    def propose_now(self) -> list[Action]:
        if self._propose_pending is None:
            return []
        h, r = self._propose_pending
        self._propose_pending = None
        if (h, r) != (self.consensus.height, self.consensus.round):
            return []
        return self.feed(cm.ProposalReady(h, r, self.build_block(h, r)))

    def build_block(self, height: int, round_: int) -> Block:
        return build_block(self.ctx, self.admission.mempool, height, round_)

    # ------------------------------------------------------------------ execution

    def commit(self, block: Block, commit: Commit, *, replay: bool = False) -> list[Action]:
        """Execute and persist a decided (or synced) block, then enter the next height.

        The save needs no fsync (see :mod:`flobc.node.consensus_log`), but the blobs it
        names do; before the log is compacted, the store is synced, since from then on the
        log no longer holds the inputs that could decide the saved heights again. No
        compaction during a replay: the log being replayed holds the later heights' records.
        """
        ctx = self.ctx
        txs = [decode(raw, SignedTx) for raw in block.txs]
        result = ctx.app.finalize_block(block.header, txs)
        snapshot = ctx.app.commit()
        # Blobs the execution wrote (a released model) are durable before the saved state
        # that names them can be (an SQLite checkpoint); usually a batch of one or two.
        ctx.blobs.sync()
        ctx.store.save_block(block, commit, result.app_hash, snapshot)
        if self.clog.compaction_due and not replay:
            ctx.store.sync()
            self.clog.reset()
        self._awaiting.clear()
        self.admission.on_commit(block)
        self.last_commit_at = ctx.now
        self._propose_pending = None
        # The decided height's timeouts would only fire to be ignored (three per height).
        out: list[Action] = [CancelTimer(k) for k in sorted(self._timers, key=_timer_order)]
        self._timers.clear()
        for listener in self.commit_listeners:
            out += listener(block, result, ctx.now)
        out += self.execute(
            self.consensus.start_height(block.height + 1, block.header.time_ms, ctx.now)
        )
        return out if replay else out + self.txs_available()


def _timer_order(k: cm.TimeoutKey) -> tuple[int, int, int]:
    return (k.height, k.round, int(k.step))


def _is_nil_vote(msg: Vote | Proposal) -> bool:
    return isinstance(msg, Vote) and msg.block_hash == NIL
