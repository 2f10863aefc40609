"""The vocabulary of the table-driven Tendermint tests (`test_tendermint_propose.py`,
`test_tendermint_lines.py`): a four-validator set, two candidate blocks, builders for the
inputs and expected outputs, the asserted state, the row type and its runner.

Each row names its line of Algorithm 1 and gives: the inputs that bring a fresh machine
(validator ``me`` of four equal-power validators, at height 1) to the state *before*,
that state, the one input under test, the exact outputs expected, and the state *after*.
Votes and proposals are fed as ``trusted`` (signature checks are not what these rows
test), and the machine's own signed votes are not fed back, so every tally counts peers
only. Proposer of (1, r) is validator ``(1 + r) % 4``: 1, 2, 3, 0 for rounds 0..3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from flobc.chain.genesis import ConsensusParams
from flobc.chain.types import NIL, Block, BlockHeader, Proposal, Vote, VoteType
from flobc.chain.validators import Validator, ValidatorSet
from flobc.consensus.messages import (
    Action,
    Event,
    ProposalReceived,
    ProposalValidity,
    ScheduleTimeout,
    SignVote,
    Step,
    TimeoutFired,
    TimeoutKey,
    ValidateProposal,
    VoteReceived,
)
from flobc.consensus.tendermint import Tendermint
from flobc.crypto.keys import KeyPair
from flobc.encoding import sha256

CHAIN = "lines"
KEYS = [KeyPair.from_seed(sha256(f"line validator {i}".encode())) for i in range(4)]
VSET = ValidatorSet(Validator(k.public_key) for k in KEYS)
#: Distinct numbers per timeout so a row fails if the wrong base or delta is used.
PARAMS = ConsensusParams(
    timeout_propose_ms=100,
    timeout_propose_delta_ms=10,
    timeout_prevote_ms=200,
    timeout_prevote_delta_ms=20,
    timeout_precommit_ms=300,
    timeout_precommit_delta_ms=30,
    empty_block_interval_ms=1000,
)
H, PREV_TIME, NOW = 1, 1_000, 5_000
PROPOSE, PREVOTE, PRECOMMIT, COMMIT = Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT, Step.COMMIT


def _block(label: str) -> Block:
    header = BlockHeader(
        CHAIN, H, 0, PREV_TIME + 1, b"", b"", sha256(label.encode()), b"", b"", b""
    )
    return Block(header, [], None)


A, B = _block("A"), _block("B")
LABEL = {A.hash: "A", B.hash: "B"}


# ---------------------------------------------------------------- inputs


class Start(NamedTuple):
    """Not an event: ``start_height(H)`` (the paper's StartRound(0))."""


START = Start()


def proposal(round_: int, value: Block, pol: int = -1) -> ProposalReceived:
    return ProposalReceived(Proposal(H, round_, pol, value, VSET.proposer(H, round_)), True)


def _vote(kind: VoteType, i: int, round_: int, value: Block | None) -> VoteReceived:
    return VoteReceived(Vote(int(kind), H, round_, value.hash if value else NIL, NOW, i), True)


def prevote(i: int, round_: int, value: Block | None) -> VoteReceived:
    return _vote(VoteType.PREVOTE, i, round_, value)


def precommit(i: int, round_: int, value: Block | None) -> VoteReceived:
    return _vote(VoteType.PRECOMMIT, i, round_, value)


def verdict(round_: int, value: Block, valid: bool = True) -> ProposalValidity:
    return ProposalValidity(H, round_, value.hash, valid)


def timeout(step: Step, round_: int) -> TimeoutFired:
    return TimeoutFired(TimeoutKey(step, H, round_))


# ---------------------------------------------------------------- outputs


# Reusable prefixes (validator 0's point of view unless a row says otherwise).
PROPOSED_B = [proposal(0, B)]
PREVOTED_B = [*PROPOSED_B, verdict(0, B)]
LOCKED_A = [proposal(0, A), verdict(0, A), prevote(1, 0, A), prevote(2, 0, A), prevote(3, 0, A)]
#: f+1 = 2 peers already in round 1 (validators 1 and 3 precommit nil there; they can
#: still prevote, and the proposer of round 1, validator 2, has sent nothing yet).
TO_ROUND_1 = [precommit(1, 1, None), precommit(3, 1, None)]
PREVOTED_NIL = [timeout(PROPOSE, 0)]


def my_prevote(me: int, round_: int, value: Block | None) -> SignVote:
    return SignVote(Vote(int(VoteType.PREVOTE), H, round_, value.hash if value else NIL, NOW, me))


def my_precommit(me: int, round_: int, value: Block | None) -> SignVote:
    v = value.hash if value else NIL
    return SignVote(Vote(int(VoteType.PRECOMMIT), H, round_, v, NOW, me))


def schedule(step: Step, round_: int, delay_ms: int) -> ScheduleTimeout:
    return ScheduleTimeout(TimeoutKey(step, H, round_), delay_ms)


def validate(round_: int, value: Block) -> ValidateProposal:
    return ValidateProposal(H, round_, value)


# ---------------------------------------------------------------- state


class State(NamedTuple):
    """What a row asserts about the machine: round, step, lock and valid value (by label)."""

    round: int
    step: Step
    locked: tuple[int, str | None] = (-1, None)
    valid: tuple[int, str | None] = (-1, None)


def view(t: Tendermint) -> State:
    def label(b: Block | None) -> str | None:
        return None if b is None else LABEL[b.hash]

    return State(
        t.round,
        t.step,
        (t.locked_round, label(t.locked_value)),
        (t.valid_round, label(t.valid_value)),
    )


@dataclass(frozen=True)
class Row:
    line: str
    before: State | None  # None: a fresh machine, before start_height
    given: Event | Start
    expect: list[Action]
    after: State
    prefix: list[Event] = field(default_factory=list)
    me: int = 0
    #: when the input under test arrives (the prefix and the start are at ``NOW``)
    at: int = NOW


def run_row(row: Row) -> None:
    """Bring a fresh machine to ``row.before`` with its prefix, feed ``row.given``, and
    check the exact outputs and the state after."""
    t = Tendermint(CHAIN, VSET, row.me, PARAMS)
    if row.before is None:
        assert not row.prefix
        assert isinstance(row.given, Start)
        out = t.start_height(H, PREV_TIME, NOW)
    else:
        t.start_height(H, PREV_TIME, NOW)
        for ev in row.prefix:
            t.handle(ev, NOW)
        assert view(t) == row.before, "the prefix did not reach the state before"
        assert not isinstance(row.given, Start)
        out = t.handle(row.given, row.at)
    assert out == row.expect
    assert view(t) == row.after
