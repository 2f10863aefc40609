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
    """The host's answer to ``valid(v)``; ``PENDING`` while data it references is missing.

    Only ``VALID``/``INVALID`` reach the state machine (as :class:`ProposalValidity`); a
    pending answer is held back by the host until the data arrives.
    """

    VALID = 1
    INVALID = 2
    PENDING = 3


@dataclass(frozen=True, order=True)
class TimeoutKey:
    """Names one timeout: the step it ends, at (height, round). Also the host's timer name."""

    step: Step
    height: int
    round: int


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
    key: TimeoutKey


@dataclass(frozen=True)
class ProposalReady:
    """The node built the block that :class:`RequestProposal` asked for."""

    height: int
    round: int
    block: Block


@dataclass(frozen=True)
class ProposalValidity:
    """The host's verdict ``valid(v)`` on the value a :class:`ValidateProposal` named.

    Validity is a property of the value (``value_id`` is the block hash), so one verdict
    serves every round that proposes the same block. The first verdict for a value counts.
    """

    height: int
    round: int
    value_id: bytes
    valid: bool


@dataclass(frozen=True)
class TxsAvailable:
    """The host holds transactions to propose at ``height`` (its mempool is not empty).

    Round 0's propose timeout then no longer waits for the empty-block interval: a
    correct proposer with those transactions proposes ``timeout_commit_ms`` after the
    last commit, not at the interval (CometBFT's ``TxsAvailable``)."""

    height: int


Event = (
    ProposalReceived | VoteReceived | TimeoutFired | ProposalReady | ProposalValidity | TxsAvailable
)


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
    """Feed ``TimeoutFired(key)`` back after ``delay_ms``."""

    key: TimeoutKey
    delay_ms: int


@dataclass(frozen=True)
class RequestProposal:
    """This node proposes at (height, round): build a block and answer with ProposalReady."""

    height: int
    round: int


@dataclass(frozen=True)
class ValidateProposal:
    """Evaluate ``valid(block)`` against committed state; answer with ProposalValidity.

    Asked once per value and height. The host may answer at once, or later (when data the
    block references has arrived); until then the rules that need ``valid(v)`` wait.
    """

    height: int
    round: int
    block: Block


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


Action = (
    SignProposal
    | SignVote
    | ScheduleTimeout
    | RequestProposal
    | ValidateProposal
    | Decide
    | Misbehaviour
)
