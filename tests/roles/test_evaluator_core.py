"""The evaluator core, input by input: one update at a time in commit order, skipping
what the ledger does not know or already holds this validator's vote on."""

from __future__ import annotations

from typing import Any

import pytest

from flobc.roles.effects import (
    Evaluate,
    Evaluated,
    EvaluationTask,
    ReadTask,
    SubmitVote,
    TaskRead,
    UpdatesCommitted,
)
from flobc.roles.evaluator import Evaluator

ME = "1"
A, B, C = b"\xaa" * 32, b"\xbb" * 32, b"\xcc" * 32


def doc(uid: bytes, voted: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {
        "update": uid.hex(),
        "base": "b0",
        "delta": "d" + uid.hex()[:2],
        "voted": list(voted),
        **extra,
    }


def task(uid: bytes, **extra: Any) -> EvaluationTask:
    return EvaluationTask.from_query(doc(uid, **extra))


SCENARIOS: dict[str, list[tuple[Any, list[Any]]]] = {
    "one update, one vote": [
        (UpdatesCommitted((A,)), [ReadTask(A)]),
        (TaskRead(A, doc(A, voted=("0",))), [Evaluate(task(A))]),
        (Evaluated(A, ("vote",)), [SubmitVote(A, "vote", 0)]),
    ],
    "a block of updates is scored in commit order; commits queue while busy": [
        (UpdatesCommitted((A, B)), [ReadTask(A)]),
        (UpdatesCommitted((C,)), []),
        (TaskRead(A, doc(A)), [Evaluate(task(A))]),
        (Evaluated(A, ("va",)), [SubmitVote(A, "va", 0), ReadTask(B)]),
        (TaskRead(B, doc(B)), [Evaluate(task(B))]),
        (Evaluated(B, ("vb",)), [SubmitVote(B, "vb", 0), ReadTask(C)]),
        (TaskRead(C, doc(C)), [Evaluate(task(C))]),
        (Evaluated(C, ("vc",)), [SubmitVote(C, "vc", 0)]),
    ],
    "already voted (a restart's backlog) and unknown updates are skipped": [
        (UpdatesCommitted((A, B, C)), [ReadTask(A)]),
        (TaskRead(A, doc(A, voted=("0", ME))), [ReadTask(B)]),
        (TaskRead(B, None), [ReadTask(C)]),
        (TaskRead(C, doc(C)), [Evaluate(task(C))]),
    ],
    "missing blobs: no vote": [
        (UpdatesCommitted((A, B)), [ReadTask(A)]),
        (TaskRead(A, doc(A)), [Evaluate(task(A))]),
        (Evaluated(A, None), [ReadTask(B)]),
    ],
    "an equivocating validator's second vote goes to a peer (k = 1)": [
        (UpdatesCommitted((A,)), [ReadTask(A)]),
        (TaskRead(A, doc(A)), [Evaluate(task(A))]),
        (Evaluated(A, ("v1", "v2")), [SubmitVote(A, "v1", 0), SubmitVote(A, "v2", 1)]),
    ],
    "a silent validator sends nothing": [
        (UpdatesCommitted((A, B)), [ReadTask(A)]),
        (TaskRead(A, doc(A)), [Evaluate(task(A))]),
        (Evaluated(A, ()), [ReadTask(B)]),
    ],
    "the task carries what scoring needs": [
        (UpdatesCommitted((A,)), [ReadTask(A)]),
        (
            TaskRead(A, doc(A, previous="p0", local_steps=12, share=0.25)),
            [Evaluate(EvaluationTask(A, "b0", "daa", "p0", 12, 0.25))],
        ),
    ],
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_evaluator_effects(name: str) -> None:
    core = Evaluator(ME)
    for k, (event, expected) in enumerate(SCENARIOS[name]):
        assert core.handle(event) == expected, f"step {k}: {event}"


def test_the_task_lists_the_blobs_to_read() -> None:
    assert task(A).blobs == ["b0", "daa"]
    assert task(A, previous="p0").blobs == ["b0", "daa", "p0"]


@pytest.mark.parametrize("event", [TaskRead(B, None), Evaluated(B, ("v",))])
def test_a_result_for_an_update_not_in_flight_is_an_error(event: Any) -> None:
    core = Evaluator(ME)
    core.handle(UpdatesCommitted((A,)))
    with pytest.raises(ValueError, match="not in flight"):
        core.handle(event)
