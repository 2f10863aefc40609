"""Crash safety for consensus: the write-ahead log of inputs and the double-sign guard.

Every input event (the host's validity verdicts included) is appended to the log before
it is handled; the node's own signed messages are appended with fsync before they leave,
and that one fsync is also what makes the sign guard's new state durable (on restart the
guard re-learns every own signature in the log). After a crash the node replays, from
the log, every height above its last stored block into a fresh state machine and arrives
at the same locks and votes; the guard returns the stored signature for an identical vote
and refuses a conflicting one, so a validator never signs two different votes for one
(height, round, step). The log is compacted (block store synced and guard flushed first)
only when it grows past a bound, not at every height.

Group commit, and why it is safe. The log is the only thing fsynced on the way to a
decision: one fsync per step that signs (proposal and prevote of a proposer share one),
made before the signed message is sent, because a signature that could be forgotten could
be contradicted after a restart. An fsync covers every record appended before it, so it
also makes durable the inputs that led to the signature (the proposal and the polka
behind a lock). The block store needs no fsync of its own (a validator opens it with
``synchronous=NORMAL``): after ``kill -9`` the saved block is in the kernel's page cache;
after a power loss that took the last saves, the height is decided again from the log
(:meth:`ConsensusLog.replay_from`), and if the decisive precommits were not yet synced
either, the 2f+1 precommitters are locked on the block by their durable polkas, so no
other block can be decided at that height.

Nil votes are appended without an fsync (they still wait, in order, behind any fsync owed
before them). Why that is safe: after a power loss that took a nil prevote or precommit,
the node may sign a second vote of that kind in that round, for a value v (the round's
proposal, once it arrives) — to its peers, a nil vote and a vote for v. Tendermint's
safety argument counts only votes for values: a decision for v in round r needs 2f+1
precommits for v, and a polka for another value needs 2f+1 prevotes for it; each node
still signs at most one *value* per (height, round, kind), so every value's tally is
bounded as without the loss, and no two values reach a quorum in one round. Across
rounds, safety rests on the locks of the 2f+1 who precommitted v; a lock is taken only
with a precommit for a value, whose record is fsynced (with every record before it, the
polka included), so no lock is ever forgotten, and a node locked on v after restart
prevotes nil, or v, as before. A forgotten nil vote only changes liveness counts (the
2f+1-of-anything timeouts, L34/L47, and a polka for nil, L44). Votes for values, and
proposals, keep their fsync: a forgotten value prevote could be followed by a prevote
for a second value of an equivocating proposer, and a forgotten value precommit by the
loss of its lock, and either can break safety together with f Byzantine validators.
Nil votes are what a round of a crashed or slow proposer produces, so the fsync saved
is on the recovery path, not on the happy path.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec

from flobc.chain.types import Block, Proposal, Vote, VoteType
from flobc.consensus import messages as cm
from flobc.consensus.sign_guard import DoubleSignError, SignedState, SignGuard
from flobc.consensus.sign_guard import Step as SignStep
from flobc.crypto.keys import KeyPair
from flobc.encoding import decode, encode


class _Record(msgspec.Struct, array_like=True, frozen=True):
    height: int
    now_ms: int
    event: Proposal | Vote | _Timeout | _Ready | _Valid | _Data | _Txs
    trusted: bool = False


class _Timeout(msgspec.Struct, tag="t", array_like=True, frozen=True):
    height: int
    round: int
    step: int


class _Ready(msgspec.Struct, tag="r", array_like=True, frozen=True):
    height: int
    round: int
    block: Block


class _Valid(msgspec.Struct, tag="v", array_like=True, frozen=True):
    height: int
    round: int
    value_id: bytes
    valid: bool


class _Txs(msgspec.Struct, tag="x", array_like=True, frozen=True):
    height: int


class _Data(msgspec.Struct, tag="d", array_like=True, frozen=True):
    """Written by older versions (a data-arrived event); skipped on replay."""


#: Compact the log once it holds this many records.
COMPACT_RECORDS = 20_000


class MemoryWAL:
    """A write-ahead log that lives in memory (the simulator keeps it across crashes)."""

    def __init__(self) -> None:
        self._records: list[bytes] = []

    def append(self, payload: bytes, *, sync: bool) -> None:
        self._records.append(payload)

    def records(self) -> Iterator[bytes]:
        return iter(list(self._records))

    def reset(self, payloads: list[bytes]) -> None:
        self._records = list(payloads)


class ConsensusLog:
    """The write-ahead log plus the sign guard of one validator."""

    def __init__(
        self, wal: MemoryWAL | object, guard: SignGuard, me: int | None = None, chain_id: str = ""
    ):
        self.wal = wal
        self.guard = guard
        self.me = me
        self.chain_id = chain_id
        self._count = 0
        for raw in wal.records():  # type: ignore[attr-defined]
            self._count += 1
            self._observe(decode(raw, _Record))

    def _observe(self, rec: _Record) -> None:
        """Teach the guard about an own signature found in the log."""
        e = rec.event
        if not rec.trusted or not isinstance(e, (Proposal, Vote)) or e.validator != self.me:
            return
        if self.me is None or not e.signature:
            return
        step = _sign_step(e)
        self.guard.observe(
            SignedState(e.height, e.round, int(step), e.message(self.chain_id), e.signature)
        )

    def record(self, event: cm.Event, now_ms: int, *, sync: bool = False) -> None:
        if isinstance(event, cm.ProposalReceived):
            rec = _Record(event.proposal.height, now_ms, event.proposal, event.trusted)
        elif isinstance(event, cm.VoteReceived):
            rec = _Record(event.vote.height, now_ms, event.vote, event.trusted)
        elif isinstance(event, cm.TimeoutFired):
            k = event.key
            rec = _Record(k.height, now_ms, _Timeout(k.height, k.round, int(k.step)))
        elif isinstance(event, cm.ProposalReady):
            rec = _Record(event.height, now_ms, _Ready(event.height, event.round, event.block))
        elif isinstance(event, cm.TxsAvailable):
            rec = _Record(event.height, now_ms, _Txs(event.height))
        else:
            e = event
            rec = _Record(e.height, now_ms, _Valid(e.height, e.round, e.value_id, e.valid))
        self.wal.append(encode(rec), sync=sync)  # type: ignore[attr-defined]
        self._count += 1

    def replay(self, height: int) -> Iterator[tuple[int, cm.Event]]:
        """The logged events of ``height``, in order."""
        for h, now, event in self.replay_from(height):
            if h == height:
                yield now, event

    def replay_from(self, height: int) -> Iterator[tuple[int, int, cm.Event]]:
        """``(height, now_ms, event)`` of every logged event of ``height`` or later, in log
        order: a block store that lags the log (its last saves were lost with the power)
        catches up by deciding those heights again from their logged inputs."""
        for raw in self.wal.records():  # type: ignore[attr-defined]
            rec = decode(raw, _Record)
            if rec.height < height:
                continue
            yield from ((rec.height, rec.now_ms, e) for e in self._event(rec))

    @staticmethod
    def _event(rec: _Record) -> Iterator[cm.Event]:
        e = rec.event
        if isinstance(e, Proposal):
            yield cm.ProposalReceived(e, trusted=rec.trusted)
        elif isinstance(e, Vote):
            yield cm.VoteReceived(e, trusted=rec.trusted)
        elif isinstance(e, _Timeout):
            yield cm.TimeoutFired(cm.TimeoutKey(cm.Step(e.step), e.height, e.round))
        elif isinstance(e, _Ready):
            yield cm.ProposalReady(e.height, e.round, e.block)
        elif isinstance(e, _Valid):
            yield cm.ProposalValidity(e.height, e.round, e.value_id, e.valid)
        elif isinstance(e, _Txs):
            yield cm.TxsAvailable(e.height)

    @property
    def compaction_due(self) -> bool:
        """Whether the next :meth:`reset` compacts (the block store must be synced first)."""
        return self._count >= COMPACT_RECORDS

    def reset(self) -> None:
        """A height is committed and the block store synced: compact the log if it has
        grown large."""
        if self.compaction_due:
            self.guard.flush()
            self.wal.reset([])  # type: ignore[attr-defined]
            self._count = 0

    def sign(
        self, action: cm.SignVote | cm.SignProposal, key: KeyPair | None, chain_id: str
    ) -> Vote | Proposal | None:
        """Sign through the guard; None when signing would be a double sign."""
        if key is None:
            return None
        msg: Vote | Proposal = action.vote if isinstance(action, cm.SignVote) else action.proposal
        step = _sign_step(msg)
        payload = msg.message(chain_id)
        try:
            # Durable through the write-ahead log: the node appends the signed message with
            # fsync before it is sent (see ValidatorNode._consensus_actions).
            sig = self.guard.check_and_record(
                msg.height, msg.round, int(step), payload, key.sign, persist=False
            )
        except DoubleSignError:
            return None
        return msgspec.structs.replace(msg, signature=sig)


def _sign_step(msg: Vote | Proposal) -> SignStep:
    if isinstance(msg, Proposal):
        return SignStep.PROPOSAL
    return SignStep.PREVOTE if msg.kind == VoteType.PREVOTE else SignStep.PRECOMMIT
