"""A validator's evaluator as a sans-I/O state machine: which committed update to score
next, whether it still needs this validator's vote, and which votes to send.

    UpdatesCommitted --> ReadTask --TaskRead--> Evaluate --Evaluated--> SubmitVote...

One update at a time, in commit order. An update the ledger does not know, or that
already holds this validator's vote, is skipped; so is one whose blobs are missing here
(``Evaluated`` with no votes). Scoring itself is the ML side's
(:class:`flobc.node_apps.fl.evaluator.Evaluator`); a Byzantine validator's forged or
conflicting votes come out of it, and the core sends each (``k`` > 0 goes to a peer).
"""

from __future__ import annotations

from collections import deque

from flobc.roles.effects import (
    Evaluate,
    EvaluationTask,
    EvaluatorEffect,
    EvaluatorInput,
    ReadTask,
    SubmitVote,
    TaskRead,
    UpdatesCommitted,
)


class Evaluator:
    """Validator ``me``'s (its index, as the ledger's ``voted`` lists spell it) queue of
    updates to vote on."""

    def __init__(self, me: str) -> None:
        self.me = me
        self.queue: deque[bytes] = deque()
        #: the update being read or scored, None when idle
        self.current: bytes | None = None

    def handle(self, event: EvaluatorInput) -> list[EvaluatorEffect]:
        """Apply one input; return the effects to run, in order."""
        if isinstance(event, UpdatesCommitted):
            self.queue.extend(event.ids)
            return self._next() if self.current is None else []
        if event.update_id != self.current:
            raise ValueError(f"{type(event).__name__} for an update not in flight")
        if isinstance(event, TaskRead):
            doc = event.doc
            if doc is None or self.me in doc.get("voted", ()):
                return self._next()
            return [Evaluate(EvaluationTask.from_query(doc))]
        votes = event.votes or ()
        out: list[EvaluatorEffect] = [
            SubmitVote(event.update_id, body, k) for k, body in enumerate(votes)
        ]
        return out + self._next()

    def _next(self) -> list[EvaluatorEffect]:
        self.current = self.queue.popleft() if self.queue else None
        return [] if self.current is None else [ReadTask(self.current)]
