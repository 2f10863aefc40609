"""The messages between the role cores and their runtimes: inputs in, effects out.

Payloads the cores only carry (weights, ledger views, signed transactions, vote bodies)
are typed ``Any``: the cores never look inside them, so they stay free of ML and of the
transaction format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------------------- trainer inputs


@dataclass(frozen=True)
class LedgerRead:
    """The trainer read the ledger: the latest model version and whether the round is
    extended (SSP)."""

    version: int
    weights_hash: str
    round_extended: bool


@dataclass(frozen=True)
class ModelFetched:
    """The weights of ``version``, checked against the ledger's hash."""

    version: int
    weights: Any


@dataclass(frozen=True)
class Trained:
    """Training finished: the local weights and the local steps it took."""

    local: Any
    steps: int


@dataclass(frozen=True)
class ViewFetched:
    """What the ledger showed an attacker (a ``LedgerView``, or None)."""

    view: Any


@dataclass(frozen=True)
class UpdateBuilt:
    """The signed ``fl.update`` transaction and the Δ blob it references."""

    tx: Any
    blob: bytes


@dataclass(frozen=True)
class Submitted:
    """The update reached a validator; ``round_extended`` is the round as it was then."""

    accepted: bool
    message: str
    round_extended: bool


@dataclass(frozen=True)
class Failed:
    """An I/O effect could not be carried out (no validator reachable, bad weights)."""

    reason: str


@dataclass(frozen=True)
class PrivacySpent:
    """What the ledger records of the trainer's differentially private releases so far
    (a restarted trainer's earlier updates are public and spent)."""

    releases: int
    epsilon: float

    @classmethod
    def from_trainers(cls, doc: list[dict[str, Any]], public_key: str) -> PrivacySpent:
        """From the ``trainers`` query (``GET /v1/trainers``); nothing spent if absent."""
        for t in doc:
            if t["public_key"] == public_key:
                return cls(int(t.get("dp_releases", 0)), float(t.get("epsilon", 0.0)))
        return cls(0, 0.0)


@dataclass(frozen=True)
class PrivacyResumed:
    """The trainer's privacy accountant continues from the ledger's record."""


@dataclass(frozen=True)
class Stopped:
    """The trainer must stop for good (its privacy budget is spent)."""

    reason: str


# --------------------------------------------------------------------------- trainer effects


@dataclass(frozen=True)
class Wait:
    """Nothing to do: read the ledger again later."""


@dataclass(frozen=True)
class FetchPrivacySpent:
    """Read the ledger's record of this trainer's releases (before its first training)."""


@dataclass(frozen=True)
class ResumePrivacy:
    """Continue the privacy accounting after ``spent`` (the ML side's accountant)."""

    spent: PrivacySpent


@dataclass(frozen=True)
class FetchModel:
    """Fetch the weights of ``version`` and check them against ``weights_hash``."""

    version: int
    weights_hash: str


@dataclass(frozen=True)
class Train:
    """Train from ``start`` (None: from ``base``) on base ``version``: ``steps`` local
    steps (None: the configured epochs), seeded by (trainer, version, ``rnd``)."""

    version: int
    base: Any
    start: Any
    steps: int | None
    rnd: int


@dataclass(frozen=True)
class FetchView:
    """Read what the ledger shows an attacker building on ``version``."""

    version: int


@dataclass(frozen=True)
class BuildUpdate:
    """Δ = local - base, then the trainer's attack and differential privacy, signed."""

    version: int
    base: Any
    local: Any
    rnd: int
    local_steps: int
    view: Any


@dataclass(frozen=True)
class Submit:
    """Send the update to a validator (with failover)."""

    version: int
    tx: Any
    blob: bytes


@dataclass(frozen=True)
class Stop:
    """Stop the trainer for good, for ``reason``."""

    reason: str


TrainerInput = (
    LedgerRead
    | PrivacySpent
    | PrivacyResumed
    | ModelFetched
    | Trained
    | ViewFetched
    | UpdateBuilt
    | Submitted
    | Failed
    | Stopped
)
TrainerEffect = (
    Wait
    | FetchPrivacySpent
    | ResumePrivacy
    | FetchModel
    | Train
    | FetchView
    | BuildUpdate
    | Submit
    | Stop
)

# -------------------------------------------------------------------------- evaluator inputs


@dataclass(frozen=True)
class UpdatesCommitted:
    """Updates the ledger committed (or that the validator has not voted on yet)."""

    ids: tuple[bytes, ...]


@dataclass(frozen=True)
class VersionReleased:
    """The ledger released a model version: ``base`` is its weights' blob hash,
    ``previous`` the hash of the version before it (None for the first)."""

    version: int
    base: str
    previous: str | None = None


@dataclass(frozen=True)
class TasksRead:
    """The ledger's ``evaluation`` query answers for the batch in flight, in its order
    (None: the ledger does not know that update)."""

    docs: tuple[dict[str, Any] | None, ...]


@dataclass(frozen=True)
class Scored:
    """One update's vote bodies (None: a blob it needs is missing here; empty: a silent
    validator's)."""

    update_id: bytes
    votes: tuple[Any, ...] | None


@dataclass(frozen=True)
class Evaluated:
    """What scoring the batch in flight gave, one :class:`Scored` per task, in order."""

    scored: tuple[Scored, ...]


# ------------------------------------------------------------------------- evaluator effects


@dataclass(frozen=True)
class ReadTasks:
    """Ask the ledger what voting on each of ``ids`` needs (the ``evaluation`` query)."""

    ids: tuple[bytes, ...]


@dataclass(frozen=True)
class EvaluationTask:
    """What a validator needs to vote on one update, read from the ledger (app query)."""

    update_id: bytes
    base: str  # hex hash of the base model's weights
    delta: str  # hex hash of the Δ blob
    previous: str | None = None  # hex hash of the version before the base (last step)
    local_steps: int = 0
    share: float = 1.0  # the update's weight in the aggregate: 1 / active trainers
    dp: tuple[str, float, float] | None = None  # declared (mechanism, clip C, σ), if any

    @classmethod
    def from_query(cls, doc: dict[str, Any]) -> EvaluationTask:
        return cls(
            bytes.fromhex(doc["update"]),
            doc["base"],
            doc["delta"],
            doc.get("previous"),
            int(doc.get("local_steps", 0)),
            float(doc.get("share", 1.0)),
            _dp(doc.get("dp")),
        )

    @property
    def blobs(self) -> list[str]:
        """The hex hashes of the blobs the evaluation reads."""
        return [self.base, self.delta] + ([self.previous] if self.previous else [])


def _dp(claim: Any) -> tuple[str, float, float] | None:
    return None if claim is None else (str(claim[0]), float(claim[1]), float(claim[2]))


@dataclass(frozen=True)
class Evaluate:
    """Score ``tasks`` on the validator's private slice, in one batch (the ML side)."""

    tasks: tuple[EvaluationTask, ...]


@dataclass(frozen=True)
class Prepare:
    """Compute, before any update built on ``base`` arrives, what scoring those updates
    needs that no update changes: the base model's outputs on the validator's slice, and
    (when votes carry more than scores) the reference step of ``local_steps`` (the steps
    trainers are predicted to declare; 0: the training configuration's) and the last
    global step from ``previous``. Only when work happens changes: no vote does."""

    version: int
    base: str
    previous: str | None
    local_steps: int


@dataclass(frozen=True)
class SubmitVotes:
    """Sign ``bodies`` (ballots on distinct updates) as one vote transaction and send it:
    to this validator's mempool, or, for an equivocating validator's ``k``-th conflicting
    ballots (k > 0), to a peer."""

    bodies: tuple[Any, ...]
    k: int


EvaluatorInput = UpdatesCommitted | VersionReleased | TasksRead | Evaluated
EvaluatorEffect = Prepare | ReadTasks | Evaluate | SubmitVotes
