"""Events into and actions out of the Tendermint state machine."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from flobc.chain.types import Block, Commit, Proposal, Vote


class Step(IntEnum):
    """Where a validator is within a round. ``COMMIT`` means the height is decided."""

    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3
    COMMIT = 4


class Validity(IntEnum):
    """The answer of ``valid(v)``; ``PENDING`` while data it references is still missing."""

    VALID = 1
    INVALID = 2
    PENDING = 3


# ---------------------------------------------------------------- events (inputs)


@dataclass(frozen=True)
class ProposalReceived:
    proposal: Proposal
    #: Set for the node's own, just-signed messages: skips signature verification.
    trusted: bool = False


@dataclass(frozen=True)
class VoteReceived:
    vote: Vote
    trusted: bool = False


@dataclass(frozen=True)
class TimeoutFired:
    height: int
    round: int
    step: Step


@dataclass(frozen=True)
class ProposalReady:
    """The node built the block that :class:`RequestProposal` asked for."""

    height: int
    round: int
    block: Block


@dataclass(frozen=True)
class DataAvailable:
    """Data a pending proposal needed has arrived: re-evaluate validity."""


Event = ProposalReceived | VoteReceived | TimeoutFired | ProposalReady | DataAvailable


# ---------------------------------------------------------------- actions (outputs)


@dataclass(frozen=True)
class SignProposal:
    """Sign (through the double-sign guard), broadcast, and feed back as ProposalReceived."""

    proposal: Proposal


@dataclass(frozen=True)
class SignVote:
    """Sign (through the double-sign guard), broadcast, and feed back as VoteReceived."""

    vote: Vote


@dataclass(frozen=True)
class ScheduleTimeout:
    height: int
    round: int
    step: Step
    delay_ms: int


@dataclass(frozen=True)
class RequestProposal:
    """This node proposes at (height, round): build a block and answer with ProposalReady."""

    height: int
    round: int


@dataclass(frozen=True)
class Decide:
    """The height is decided: execute and persist ``block`` with its certificate."""

    block: Block
    commit: Commit


@dataclass(frozen=True)
class Misbehaviour:
    """Evidence that a validator equivocated (two different signed messages for one slot)."""

    validator: int
    height: int
    round: int
    what: str


Action = SignProposal | SignVote | ScheduleTimeout | RequestProposal | Decide | Misbehaviour
