"""A trainer as a sans-I/O state machine: one code path for the simulator and processes.

Before the first cycle, a trainer under differential privacy reads the ledger's record of
its releases and resumes its accountant from it (``FetchPrivacySpent`` --PrivacySpent-->
``ResumePrivacy`` --PrivacyResumed--), then plans on the read that started it.

One cycle, from reading the ledger to an update on it::

    LedgerRead --(policy: train a new version)--> FetchModel --ModelFetched--> Train
               --(policy: train more, SSP/BAP)---------------------------> Train
    Train --Trained--> [FetchView --ViewFetched-->] BuildUpdate --UpdateBuilt--> Submit
    Submit --Submitted--> idle (read the ledger again)

What to do next under the network's synchronisation scheme is the ``policy``'s call
(:func:`flobc.node_apps.fl.trainer_core.scheme_policy` wraps
:mod:`flobc.algorithms.sync`); the
attack and differential privacy happen in the ``BuildUpdate`` effect, which both runtimes
run through the same ML service, so the same inputs give the same bytes everywhere.
While a cycle is in flight, ledger reads are ignored; an I/O effect that fails
(``Failed``) leaves the trainer idle, and a failed ledger view or submission is retried
on the next read while the version is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from flobc.roles.effects import (
    BuildUpdate,
    Failed,
    FetchModel,
    FetchPrivacySpent,
    FetchView,
    LedgerRead,
    ModelFetched,
    PrivacyResumed,
    PrivacySpent,
    ResumePrivacy,
    Stop,
    Stopped,
    Submit,
    Submitted,
    Train,
    Trained,
    TrainerEffect,
    TrainerInput,
    UpdateBuilt,
    ViewFetched,
    Wait,
)


@dataclass(frozen=True)
class Progress:
    """What the policy decides on: the ledger's latest version and round, and the
    trainer's own progress on the version it trained last."""

    latest_version: int
    trained_version: int  # -1 before the first model
    submitted: bool  # submitted an update on ``trained_version``
    extra_done: bool  # SSP: already used the extension
    round_extended: bool  # SSP: the current round has an extension
    submitted_in_extension: bool  # SSP: its first update on it landed in the extension


class Plan(Protocol):
    """The policy's answer (:class:`flobc.algorithms.sync.Work`)."""

    @property
    def kind(self) -> str: ...  # "train_new", "train_more" or "wait"

    @property
    def steps(self) -> int | None: ...  # None: the configured epochs


Policy = Callable[[Progress], Plan]


class Phase(Enum):
    IDLE = "idle"
    RESUMING = "resuming"
    FETCHING = "fetching"
    TRAINING = "training"
    VIEWING = "viewing"
    BUILDING = "building"
    SUBMITTING = "submitting"
    STOPPED = "stopped"


class Trainer:
    """One trainer's progress and its next effects (see the module docstring).

    ``wants_view``: the trainer's attack reads the ledger (peers' updates or the previous
    global model) before building each update. ``private``: it releases under differential
    privacy, so it resumes its accounting from the ledger first.
    """

    def __init__(self, policy: Policy, *, wants_view: bool = False, private: bool = False) -> None:
        self.policy = policy
        self.wants_view = wants_view
        self.resumed = not private
        self._resume_on: LedgerRead | None = None  # the read to plan on once resumed
        self.phase = Phase.IDLE
        self.trained_version = -1
        self.submitted = False
        self.extra_done = False
        self.submitted_in_extension = False
        #: updates submitted on ``trained_version``: the round of the next one (its seeds)
        self.shares = 0
        self.base: Any = None
        self.local: Any = None
        #: why the trainer stopped for good, if it did
        self.stopped: str | None = None
        #: the last submission's outcome: (accepted, message)
        self.last_outcome: tuple[bool, str] | None = None
        self._steps: int | None = None  # steps asked of the training in flight
        self._local_steps = 0  # steps the last training took
        self._retry: FetchView | Submit | None = None

    def handle(self, event: TrainerInput) -> list[TrainerEffect]:
        """Apply one input; return the effects to run, in order."""
        if self.phase is Phase.STOPPED:
            return []
        if isinstance(event, Stopped):
            self.phase, self.stopped = Phase.STOPPED, event.reason
            return [Stop(event.reason)]
        if isinstance(event, LedgerRead):
            return self._on_ledger(event)
        if isinstance(event, Failed):
            return self._on_failed()
        return self._advance(event)

    # ---------------------------------------------------------------------------- inputs

    def _on_ledger(self, read: LedgerRead) -> list[TrainerEffect]:
        if self.phase is not Phase.IDLE:
            return []  # a cycle is in flight
        if not self.resumed:
            self.phase, self._resume_on = Phase.RESUMING, read
            return [FetchPrivacySpent()]
        retry, self._retry = self._retry, None
        if retry is not None and read.version == self.trained_version:
            self.phase = Phase.VIEWING if isinstance(retry, FetchView) else Phase.SUBMITTING
            return [retry]
        plan = self.policy(
            Progress(
                read.version,
                self.trained_version,
                self.submitted,
                self.extra_done,
                read.round_extended,
                self.submitted_in_extension,
            )
        )
        if plan.kind == "train_new":
            self.phase, self._steps = Phase.FETCHING, plan.steps
            return [FetchModel(read.version, read.weights_hash)]
        if plan.kind == "train_more":
            self.phase, self._steps, self.extra_done = Phase.TRAINING, plan.steps, True
            return [self._train(self.local)]
        return [Wait()]

    def _on_failed(self) -> list[TrainerEffect]:
        """An I/O effect failed: go idle; a ledger view or an upload is tried again on the
        next read (a failed fetch needs nothing kept: the next read plans it again)."""
        if self.phase is Phase.VIEWING:
            self._retry = FetchView(self.trained_version)
        elif self.phase not in (Phase.RESUMING, Phase.FETCHING, Phase.SUBMITTING):
            # (SUBMITTING keeps its Submit in _retry already)
            raise ValueError(f"Failed while {self.phase.value}: only I/O effects fail")
        self.phase = Phase.IDLE
        return [Wait()]

    def _advance(self, event: TrainerInput) -> list[TrainerEffect]:
        expected = {
            PrivacySpent: Phase.RESUMING,
            PrivacyResumed: Phase.RESUMING,
            ModelFetched: Phase.FETCHING,
            Trained: Phase.TRAINING,
            ViewFetched: Phase.VIEWING,
            UpdateBuilt: Phase.BUILDING,
            Submitted: Phase.SUBMITTING,
        }[type(event)]
        if self.phase is not expected:
            raise ValueError(f"{type(event).__name__} while {self.phase.value}")
        if isinstance(event, PrivacySpent):
            return [ResumePrivacy(event)]
        if isinstance(event, PrivacyResumed):
            read, self._resume_on = self._resume_on, None
            assert read is not None
            self.phase, self.resumed = Phase.IDLE, True
            return self._on_ledger(read)
        if isinstance(event, ModelFetched):
            self.base, self.local = event.weights, None
            self.trained_version, self.shares = event.version, 0
            self.submitted = self.extra_done = self.submitted_in_extension = False
            self.phase = Phase.TRAINING
            return [self._train(None)]
        if isinstance(event, Trained):
            self.local, self._local_steps = event.local, event.steps
            if self.wants_view:
                self.phase = Phase.VIEWING
                return [FetchView(self.trained_version)]
            return self._build(None)
        if isinstance(event, ViewFetched):
            return self._build(event.view)
        if isinstance(event, UpdateBuilt):
            self.phase = Phase.SUBMITTING
            submit = Submit(self.trained_version, event.tx, event.blob)
            self._retry = submit  # kept until it is through, for a retry after Failed
            return [submit]
        assert isinstance(event, Submitted)
        if not self.submitted:
            self.submitted_in_extension = event.round_extended
        self.submitted, self.shares = True, self.shares + 1
        self.last_outcome = (event.accepted, event.message)
        self.phase, self._retry = Phase.IDLE, None
        return []

    # --------------------------------------------------------------------------- effects

    def _train(self, start: Any) -> Train:
        return Train(self.trained_version, self.base, start, self._steps, self.shares)

    def _build(self, view: Any) -> list[TrainerEffect]:
        self.phase = Phase.BUILDING
        return [
            BuildUpdate(
                self.trained_version,
                self.base,
                self.local,
                self.shares,
                self._local_steps,
                view,
            )
        ]
