"""Tendermint consensus as a sans-I/O state machine.

This follows Algorithm 1 of "The latest gossip on BFT consensus" (Buchman, Kwon,
Milosevic, 2018); comments ``L22`` etc. name the lines of that pseudo-code. The machine
takes :mod:`~flobc.consensus.messages` events and returns actions. It never touches a
socket, a clock or a disk: time arrives inside events (``now_ms``), signing and
persistence happen in the node when it executes ``SignVote``/``SignProposal``.

As in Malachite, the paper's ``valid(v)`` is an input, not a callback: on accepting a
proposal the machine emits :class:`ValidateProposal` once per value, and the host answers
with a :class:`ProposalValidity` event (possibly later, once referenced data arrived).
Until the verdict arrives, the rules that need ``valid(v)`` (L22, L28, L36, L49) wait.
"""

from __future__ import annotations

from dataclasses import dataclass

from flobc.chain.genesis import ConsensusParams
from flobc.chain.types import NIL, Block, Proposal, Vote, VoteType
from flobc.chain.validators import ValidatorSet
from flobc.consensus.messages import (
    Action,
    Decide,
    Event,
    Misbehaviour,
    ProposalReady,
    ProposalReceived,
    ProposalValidity,
    RequestProposal,
    ScheduleTimeout,
    SignProposal,
    SignVote,
    Step,
    TimeoutFired,
    TimeoutKey,
    TxsAvailable,
    ValidateProposal,
    VoteReceived,
)
from flobc.consensus.votes import HeightVotes

#: Votes for rounds further ahead than this are ignored (bounds memory under attack).
MAX_ROUND_AHEAD = 64
#: Events for the next height kept until it starts.
MAX_FUTURE_EVENTS = 4096


@dataclass
class RoundState:
    """The public view of where the machine is."""

    height: int
    round: int
    step: Step
    locked_round: int
    valid_round: int


class Tendermint:
    """One validator's (or an observer's, with ``me=None``) consensus state machine.

    The host's verdicts (:class:`ProposalValidity`) must be deterministic given the
    node's committed state, so every correct validator reaches the same one.
    """

    def __init__(
        self,
        chain_id: str,
        vset: ValidatorSet,
        me: int | None,
        params: ConsensusParams,
    ):
        self.chain_id = chain_id
        self.vset = vset
        self.me = me
        self.params = params
        self.height = 0
        self.round = 0
        self.step = Step.COMMIT
        self._future: list[Event] = []
        self._reset_height(0, 0)

    # ------------------------------------------------------------ public interface

    def state(self) -> RoundState:
        return RoundState(self.height, self.round, self.step, self.locked_round, self.valid_round)

    def start_height(self, height: int, prev_block_time_ms: int, now_ms: int) -> list[Action]:
        """Enter ``height`` at round 0 (after the previous height was committed)."""
        self._reset_height(height, prev_block_time_ms)
        self._started_ms = now_ms
        out: list[Action] = []
        self._start_round(0, out)
        future, self._future = self._future, []
        for ev in future:
            out += self.handle(ev, now_ms)
        return out

    def handle(self, event: Event, now_ms: int) -> list[Action]:
        """Process one event and return the resulting actions."""
        self._now = now_ms
        out: list[Action] = []
        if isinstance(event, VoteReceived):
            self._on_vote(event, out)
        elif isinstance(event, ProposalReceived):
            self._on_proposal(event, out)
        elif isinstance(event, TimeoutFired):
            self._on_timeout(event, out)
        elif isinstance(event, ProposalReady):
            self._on_proposal_ready(event, out)
        elif isinstance(event, ProposalValidity):
            self._on_validity(event)
        elif isinstance(event, TxsAvailable):
            self._on_txs_available(event, out)
        self._apply_rules(out)
        return out

    def proposal(self, round_: int) -> Proposal | None:
        return self._proposals.get(round_)

    def validity(self, value_id: bytes) -> bool | None:
        """The verdict received for ``value_id`` at this height; None while awaited."""
        return self._validity.get(value_id)

    def awaited_validity(self) -> list[ValidateProposal]:
        """A request for every held proposal whose verdict has not arrived.

        For a host that lost its in-flight requests, e.g. after replaying its log.
        """
        out: list[ValidateProposal] = []
        seen: set[bytes] = set(self._validity)
        for r, p in sorted(self._proposals.items()):
            if p.block.hash not in seen:
                seen.add(p.block.hash)
                out.append(ValidateProposal(self.height, r, p.block))
        return out

    def own_messages(self) -> list[Proposal | Vote]:
        """This validator's signed messages at the current height, for re-broadcast."""
        if self.me is None:
            return []
        msgs: list[Proposal | Vote] = [
            p for _, p in sorted(self._proposals.items()) if p.validator == self.me
        ]
        return msgs + self.votes.own_votes(self.me)

    def known_messages(self) -> list[Proposal | Vote]:
        """Every message held at this height (the current round's proposal and all votes)."""
        msgs: list[Proposal | Vote] = []
        if (p := self._proposals.get(self.round)) is not None:
            msgs.append(p)
        return msgs + self.votes.all_votes()

    # ------------------------------------------------------------ arrivals

    def _reset_height(self, height: int, prev_block_time_ms: int) -> None:
        self.height = height
        self.round = 0
        self.step = Step.PROPOSE
        self.locked_value: Block | None = None
        self.locked_round = -1
        self.valid_value: Block | None = None
        self.valid_round = -1
        self.decision: Block | None = None
        self.prev_block_time_ms = prev_block_time_ms
        self.votes = HeightVotes(self.vset)
        self._proposals: dict[int, Proposal] = {}
        self._validity: dict[bytes, bool] = {}
        self._asked: set[bytes] = set()
        self._once: set[tuple[str, int]] = set()
        self._now = 0
        self._started_ms = 0
        self._txs_available = False

    def _accept_slot(self, height: int, round_: int, event: Event) -> bool:
        """Whether a message for (height, round) is for us now; buffer next-height ones."""
        if height == self.height + 1 or (height == self.height and self.step == Step.COMMIT):
            if height != self.height and len(self._future) < MAX_FUTURE_EVENTS:
                self._future.append(event)
            return False
        if height != self.height:
            return False
        return 0 <= round_ <= self.round + MAX_ROUND_AHEAD

    def _on_vote(self, ev: VoteReceived, out: list[Action]) -> None:
        v = ev.vote
        if not self._accept_slot(v.height, v.round, ev):
            return
        if v.kind not in (VoteType.PREVOTE, VoteType.PRECOMMIT):
            return
        if not ev.trusted and not self.vset.verify_vote(self.chain_id, v):
            return
        prior = self.votes.add(v)
        if prior is not None:
            out.append(
                Misbehaviour(v.validator, v.height, v.round, f"two {VoteType(v.kind).name}s")
            )

    def _on_proposal(self, ev: ProposalReceived, out: list[Action]) -> None:
        p = ev.proposal
        if not self._accept_slot(p.height, p.round, ev):
            return
        if p.validator != self.vset.proposer(p.height, p.round) or p.pol_round >= p.round:
            return
        if p.pol_round < -1 or p.block.height != p.height:
            return
        if not ev.trusted:
            from flobc.crypto.keys import verify  # local: keeps the hot path import-light

            if not verify(self.vset[p.validator].public_key, p.message(self.chain_id), p.signature):
                return
        prior = self._proposals.get(p.round)
        if prior is not None:
            if prior.block.hash != p.block.hash:
                out.append(Misbehaviour(p.validator, p.height, p.round, "two proposals"))
            return
        self._proposals[p.round] = p
        self.votes.saw_sender(p.round, p.validator)
        if p.block.hash not in self._asked:
            self._asked.add(p.block.hash)
            out.append(ValidateProposal(p.height, p.round, p.block))

    def _on_validity(self, ev: ProposalValidity) -> None:
        if ev.height != self.height or self.step == Step.COMMIT:
            return
        if ev.value_id in self._asked and ev.value_id not in self._validity:
            self._validity[ev.value_id] = ev.valid

    def _on_proposal_ready(self, ev: ProposalReady, out: list[Action]) -> None:
        if (ev.height, ev.round) != (self.height, self.round) or self.step != Step.PROPOSE:
            return
        if self.me is None or self.round in self._proposals:
            return
        out.append(SignProposal(Proposal(self.height, self.round, -1, ev.block, self.me)))

    def _on_txs_available(self, ev: TxsAvailable, out: list[Action]) -> None:
        """L21 for round 0 again, with the shorter wait: the proposer has no reason to wait
        for the empty-block interval now, so neither does our propose timeout (a crashed
        proposer costs ``timeout_propose`` after the commit wait, not after the interval).
        Rescheduled only while that makes it earlier."""
        if ev.height != self.height or self._txs_available:
            return
        self._txs_available = True
        p = self.params
        if self.round != 0 or self.step != Step.PROPOSE:
            return
        if p.empty_block_interval_ms <= p.timeout_commit_ms:
            return  # the timeout already waits only for the commit
        if self._now >= self._started_ms + p.empty_block_interval_ms:
            return  # the proposer's empty-block wait is over anyway
        wait = max(0, self._started_ms + p.timeout_commit_ms - self._now)
        out.append(
            ScheduleTimeout(TimeoutKey(Step.PROPOSE, self.height, 0), p.timeout_propose_ms + wait)
        )

    def _on_timeout(self, ev: TimeoutFired, out: list[Action]) -> None:
        k = ev.key
        if k.height != self.height or k.round != self.round:
            return
        if k.step == Step.PROPOSE and self.step == Step.PROPOSE:  # L57
            self._vote(VoteType.PREVOTE, NIL, out)
            self.step = Step.PREVOTE
        elif k.step == Step.PREVOTE and self.step == Step.PREVOTE:  # L61
            self._vote(VoteType.PRECOMMIT, NIL, out)
            self.step = Step.PRECOMMIT
        elif k.step == Step.PRECOMMIT and self.step != Step.COMMIT:  # L65
            self._start_round(self.round + 1, out)

    # ------------------------------------------------------------ the upon-rules

    def _valid(self, block: Block) -> bool | None:
        """``valid(v)`` as the host answered it; None while the verdict is awaited."""
        return self._validity.get(block.hash)

    def _first(self, rule: str, round_: int) -> bool:
        key = (rule, round_)
        if key in self._once:
            return False
        self._once.add(key)
        return True

    def _apply_rules(self, out: list[Action]) -> None:
        """Fire every enabled rule until none is; each rule changes state when it fires."""
        while self.step != Step.COMMIT and self._apply_one(out):
            pass

    def _apply_one(self, out: list[Action]) -> bool:
        r = self.round
        # L49: a decision, in any round.
        for rr in self.votes.rounds():
            value = self.votes.get(rr, VoteType.PRECOMMIT).quorum_value()
            p = self._proposals.get(rr)
            if value and p is not None and p.block.hash == value and self._valid(p.block) is True:
                self._decide(p, out)
                return True
        # L55: f+1 messages from a higher round.
        for rr in sorted(
            {rr for rr in self.votes.rounds() if rr > r} | {x for x in self._proposals if x > r}
        ):
            if self.votes.sender_power(rr) >= self.vset.one_third_plus:
                self._start_round(rr, out)
                return True
        prop = self._proposals.get(r)
        prevotes = self.votes.get(r, VoteType.PREVOTE)
        precommits = self.votes.get(r, VoteType.PRECOMMIT)
        if prop is not None and self.step == Step.PROPOSE:
            v, vr = prop.block, prop.pol_round
            validity = self._valid(v)
            if vr == -1 and validity is not None:  # L22
                ok = validity and (self.locked_round == -1 or self._is_locked(v))
                self._vote(VoteType.PREVOTE, v.hash if ok else NIL, out)
                self.step = Step.PREVOTE
                return True
            if (
                0 <= vr < r
                and validity is not None
                and self.votes.get(vr, VoteType.PREVOTE).has_quorum_for(v.hash)
            ):  # L28
                ok = validity and (self.locked_round <= vr or self._is_locked(v))
                self._vote(VoteType.PREVOTE, v.hash if ok else NIL, out)
                self.step = Step.PREVOTE
                return True
        if self.step == Step.PREVOTE and prevotes.has_quorum_any() and self._first("L34", r):
            out.append(self._timeout(Step.PREVOTE))
            return True
        if (
            prop is not None
            and self.step >= Step.PREVOTE
            and prevotes.has_quorum_for(prop.block.hash)
            and self._valid(prop.block) is True
            and self._first("L36", r)
        ):
            if self.step == Step.PREVOTE:
                self.locked_value, self.locked_round = prop.block, r
                self._vote(VoteType.PRECOMMIT, prop.block.hash, out)
                self.step = Step.PRECOMMIT
            self.valid_value, self.valid_round = prop.block, r
            return True
        if self.step == Step.PREVOTE and prevotes.has_quorum_for(NIL):  # L44
            self._vote(VoteType.PRECOMMIT, NIL, out)
            self.step = Step.PRECOMMIT
            return True
        if precommits.has_quorum_any() and self._first("L47", r):
            out.append(self._timeout(Step.PRECOMMIT))
            return True
        return False

    def _is_locked(self, block: Block) -> bool:
        return self.locked_value is not None and self.locked_value.hash == block.hash

    # ------------------------------------------------------------ transitions

    def _start_round(self, round_: int, out: list[Action]) -> None:  # L11
        self.round = round_
        self.step = Step.PROPOSE
        if self.me is not None and self.vset.proposer(self.height, round_) == self.me:
            if self.valid_value is not None:
                out.append(
                    SignProposal(
                        Proposal(self.height, round_, self.valid_round, self.valid_value, self.me)
                    )
                )
            else:
                out.append(RequestProposal(self.height, round_))
        out.append(self._timeout(Step.PROPOSE))

    def _decide(self, p: Proposal, out: list[Action]) -> None:
        self.decision = p.block
        self.step = Step.COMMIT
        commit = self.votes.get(p.round, VoteType.PRECOMMIT).commit(
            self.height, p.round, p.block.hash
        )
        out.append(Decide(p.block, commit))

    def _vote(self, kind: VoteType, block_hash: bytes, out: list[Action]) -> None:
        if self.me is None:
            return
        t = max(self._now, self.prev_block_time_ms + 1)
        out.append(SignVote(Vote(int(kind), self.height, self.round, block_hash, t, self.me)))

    def _timeout(self, step: Step) -> ScheduleTimeout:
        p, r = self.params, self.round
        base, delta = {
            Step.PROPOSE: (p.timeout_propose_ms, p.timeout_propose_delta_ms),
            Step.PREVOTE: (p.timeout_prevote_ms, p.timeout_prevote_delta_ms),
            Step.PRECOMMIT: (p.timeout_precommit_ms, p.timeout_precommit_delta_ms),
        }[step]
        delay = base + delta * r
        if step == Step.PROPOSE and r == 0:
            # the proposer may wait that long after the commit: timeout_commit_ms with
            # transactions pending, the empty-block interval without (TxsAvailable)
            wait = p.timeout_commit_ms
            if not self._txs_available:
                wait = max(wait, p.empty_block_interval_ms)
            delay += wait
        return ScheduleTimeout(TimeoutKey(step, self.height, r), delay)
