"""A validator's evaluator as a sans-I/O state machine: which committed updates to score
next, which still need this validator's vote, and which vote transactions to send.

    UpdatesCommitted --> ReadTasks --TasksRead--> Evaluate --Evaluated--> SubmitVotes...
    VersionReleased  --> Prepare


A batch at a time, in commit order: up to ``max_batch`` queued updates are read, the ones
the ledger knows and that do not hold this validator's vote yet are scored together, and
their ballots go out as one vote transaction (``SubmitVotes``), not one per update. An
update whose blobs are missing here gets no ballot. Scoring itself is the ML side's
(:class:`flobc.node_apps.fl.evaluator.Evaluator`); a Byzantine validator's forged or
conflicting ballots come out of it: the ``k``-th ballot of every update goes in the
``k``-th transaction (``k`` > 0 goes to a peer).

When a version is released the core asks for a ``Prepare`` of it: what scoring its
updates needs that no update changes (the base model's outputs, the reference step) is
computed while trainers still train, instead of on the round's critical path once the
first update commits. The reference step's length is the trainers' local steps, known
only from an update: the core predicts it from the last updates it read (0 before any:
the training configuration's); a wrong guess costs a computation on demand, never a
different vote. A release during a batch is prepared before the next batch is read.
"""

from __future__ import annotations

from collections import deque

from flobc.roles.effects import (
    Evaluate,
    Evaluated,
    EvaluationTask,
    EvaluatorEffect,
    EvaluatorInput,
    Prepare,
    ReadTasks,
    SubmitVotes,
    TasksRead,
    UpdatesCommitted,
    VersionReleased,
)


class Evaluator:
    """Validator ``me``'s (its index, as the ledger's ``voted`` lists spell it) queue of
    updates to vote on; at most ``max_batch`` ballots per vote transaction."""

    def __init__(self, me: str, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1 (got {max_batch})")
        self.me = me
        self.max_batch = max_batch
        self.queue: deque[bytes] = deque()
        #: the batch being read (ids) or scored (tasks); both empty when idle
        self.reading: tuple[bytes, ...] = ()
        self.scoring: tuple[EvaluationTask, ...] = ()
        #: local steps the next version's updates are predicted to declare (0: unknown)
        self.steps = 0
        #: a released version to prepare once the batch in flight is done
        self.to_prepare: VersionReleased | None = None

    @property
    def busy(self) -> bool:
        return bool(self.reading or self.scoring)

    def handle(self, event: EvaluatorInput) -> list[EvaluatorEffect]:
        """Apply one input; return the effects to run, in order."""
        if isinstance(event, UpdatesCommitted):
            self.queue.extend(event.ids)
            return [] if self.busy else self._next()
        if isinstance(event, VersionReleased):
            self.to_prepare = event
            return [] if self.busy else self._next()
        if isinstance(event, TasksRead):
            if not self.reading or len(event.docs) != len(self.reading):
                raise ValueError("TasksRead for no batch in flight")
            self.reading = ()
            tasks = tuple(
                EvaluationTask.from_query(doc)
                for doc in event.docs
                if doc is not None and self.me not in doc.get("voted", ())
            )
            for task in tasks:
                if task.local_steps > 0:
                    self.steps = task.local_steps
            if not tasks:
                return self._next()
            self.scoring = tasks
            return [Evaluate(tasks)]
        assert isinstance(event, Evaluated)
        scored_ids = [s.update_id for s in event.scored]
        if not self.scoring or scored_ids != [t.update_id for t in self.scoring]:
            raise ValueError("Evaluated for no batch in flight")
        self.scoring = ()
        ballots: list[list[object]] = []
        for s in event.scored:
            for k, body in enumerate(s.votes or ()):
                if k == len(ballots):
                    ballots.append([])
                ballots[k].append(body)
        out: list[EvaluatorEffect] = [SubmitVotes(tuple(b), k) for k, b in enumerate(ballots)]
        return out + self._next()

    def _next(self) -> list[EvaluatorEffect]:
        out: list[EvaluatorEffect] = []
        if (v := self.to_prepare) is not None:  # with the steps of the latest updates read
            out.append(Prepare(v.version, v.base, v.previous, self.steps))
            self.to_prepare = None
        n = min(self.max_batch, len(self.queue))
        self.reading = tuple(self.queue.popleft() for _ in range(n))
        return out + ([ReadTasks(self.reading)] if self.reading else [])
