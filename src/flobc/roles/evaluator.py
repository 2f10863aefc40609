"""A validator's evaluator as a sans-I/O state machine: which committed updates to score
next, which still need this validator's vote, and which vote transactions to send.

    UpdatesCommitted --> ReadTasks --TasksRead--> Evaluate --Evaluated--> SubmitVotes...

A batch at a time, in commit order: up to ``max_batch`` queued updates are read, the ones
the ledger knows and that do not hold this validator's vote yet are scored together, and
their ballots go out as one vote transaction (``SubmitVotes``), not one per update. An
update whose blobs are missing here gets no ballot. Scoring itself is the ML side's
(:class:`flobc.node_apps.fl.evaluator.Evaluator`); a Byzantine validator's forged or
conflicting ballots come out of it: the ``k``-th ballot of every update goes in the
``k``-th transaction (``k`` > 0 goes to a peer).
"""

from __future__ import annotations

from collections import deque

from flobc.roles.effects import (
    Evaluate,
    Evaluated,
    EvaluationTask,
    EvaluatorEffect,
    EvaluatorInput,
    ReadTasks,
    SubmitVotes,
    TasksRead,
    UpdatesCommitted,
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

    @property
    def busy(self) -> bool:
        return bool(self.reading or self.scoring)

    def handle(self, event: EvaluatorInput) -> list[EvaluatorEffect]:
        """Apply one input; return the effects to run, in order."""
        if isinstance(event, UpdatesCommitted):
            self.queue.extend(event.ids)
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
        n = min(self.max_batch, len(self.queue))
        self.reading = tuple(self.queue.popleft() for _ in range(n))
        return [ReadTasks(self.reading)] if self.reading else []
