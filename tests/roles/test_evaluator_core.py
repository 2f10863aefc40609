"""The evaluator core, input by input: a batch of updates at a time in commit order,
skipping what the ledger does not know or already holds this validator's vote on, and
one vote transaction per batch (per conflicting ballot set for an equivocator)."""

from __future__ import annotations

from typing import Any

import pytest

from flobc.roles.effects import (
    Evaluate,
    Evaluated,
    EvaluationTask,
    Prepare,
    ReadTasks,
    Scored,
    SubmitVotes,
    TasksRead,
    UpdatesCommitted,
    VersionReleased,
)
from flobc.roles.evaluator import Evaluator

ME = "1"
A, B, C, D = b"\xaa" * 32, b"\xbb" * 32, b"\xcc" * 32, b"\xdd" * 32


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


def scored(*pairs: tuple[bytes, tuple[Any, ...] | None]) -> Evaluated:
    return Evaluated(tuple(Scored(uid, votes) for uid, votes in pairs))


SCENARIOS: dict[str, list[tuple[Any, list[Any]]]] = {
    "one update, one vote": [
        (UpdatesCommitted((A,)), [ReadTasks((A,))]),
        (TasksRead((doc(A, voted=("0",)),)), [Evaluate((task(A),))]),
        (scored((A, ("vote",))), [SubmitVotes(("vote",), 0)]),
    ],
    "a block of updates is one batch and one vote tx; commits queue while busy": [
        (UpdatesCommitted((A, B)), [ReadTasks((A, B))]),
        (UpdatesCommitted((C,)), []),
        (TasksRead((doc(A), doc(B))), [Evaluate((task(A), task(B)))]),
        (UpdatesCommitted((D,)), []),
        (
            scored((A, ("va",)), (B, ("vb",))),
            [SubmitVotes(("va", "vb"), 0), ReadTasks((C, D))],
        ),
        (TasksRead((doc(C), doc(D))), [Evaluate((task(C), task(D)))]),
        (scored((C, ("vc",)), (D, ("vd",))), [SubmitVotes(("vc", "vd"), 0)]),
    ],
    "already voted (a restart's backlog) and unknown updates are skipped": [
        (UpdatesCommitted((A, B, C)), [ReadTasks((A, B, C))]),
        (TasksRead((doc(A, voted=("0", ME)), None, doc(C))), [Evaluate((task(C),))]),
    ],
    "a batch with nothing left to vote on moves to the next": [
        (UpdatesCommitted((A,)), [ReadTasks((A,))]),
        (UpdatesCommitted((B,)), []),
        (TasksRead((None,)), [ReadTasks((B,))]),
    ],
    "missing blobs: no ballot for that update, the others go": [
        (UpdatesCommitted((A, B)), [ReadTasks((A, B))]),
        (TasksRead((doc(A), doc(B))), [Evaluate((task(A), task(B)))]),
        (scored((A, None), (B, ("vb",))), [SubmitVotes(("vb",), 0)]),
    ],
    "an equivocating validator's second ballots go to a peer as one tx (k = 1)": [
        (UpdatesCommitted((A, B)), [ReadTasks((A, B))]),
        (TasksRead((doc(A), doc(B))), [Evaluate((task(A), task(B)))]),
        (
            scored((A, ("a1", "a2")), (B, ("b1", "b2"))),
            [SubmitVotes(("a1", "b1"), 0), SubmitVotes(("a2", "b2"), 1)],
        ),
    ],
    "a silent validator sends nothing": [
        (UpdatesCommitted((A,)), [ReadTasks((A,))]),
        (UpdatesCommitted((B,)), []),
        (TasksRead((doc(A),)), [Evaluate((task(A),))]),
        (scored((A, ())), [ReadTasks((B,))]),
    ],
    "the task carries what scoring needs": [
        (UpdatesCommitted((A,)), [ReadTasks((A,))]),
        (
            TasksRead((doc(A, previous="p0", local_steps=12, share=0.25),)),
            [Evaluate((EvaluationTask(A, "b0", "daa", "p0", 12, 0.25),))],
        ),
    ],
    "a release while idle is prepared at once, with the configured steps before any update": [
        (VersionReleased(0, "b0"), [Prepare(0, "b0", None, 0)]),
        (UpdatesCommitted((A,)), [ReadTasks((A,))]),
    ],
    "the next release is prepared for the steps the last updates declared": [
        (UpdatesCommitted((A, B)), [ReadTasks((A, B))]),
        (
            TasksRead((doc(A, local_steps=5), doc(B, local_steps=7))),
            [Evaluate((task(A, local_steps=5), task(B, local_steps=7)))],
        ),
        (scored((A, ("va",)), (B, ("vb",))), [SubmitVotes(("va", "vb"), 0)]),
        (VersionReleased(1, "b1", "b0"), [Prepare(1, "b1", "b0", 7)]),
    ],
    "a release during a batch is prepared before the next batch is read, for its steps": [
        (UpdatesCommitted((A,)), [ReadTasks((A,))]),
        (VersionReleased(1, "b1", "b0"), []),
        (UpdatesCommitted((B,)), []),
        (TasksRead((doc(A, local_steps=3),)), [Evaluate((task(A, local_steps=3),))]),
        (
            scored((A, ("va",))),
            [SubmitVotes(("va",), 0), Prepare(1, "b1", "b0", 3), ReadTasks((B,))],
        ),
    ],
    "of two releases during a batch only the newer is prepared": [
        (UpdatesCommitted((A,)), [ReadTasks((A,))]),
        (VersionReleased(1, "b1", "b0"), []),
        (VersionReleased(2, "b2", "b1"), []),
        (TasksRead((None,)), [Prepare(2, "b2", "b1", 0)]),
    ],
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_evaluator_effects(name: str) -> None:
    core = Evaluator(ME, max_batch=8)
    for k, (event, expected) in enumerate(SCENARIOS[name]):
        assert core.handle(event) == expected, f"step {k}: {event}"


def test_batches_are_at_most_max_batch_long() -> None:
    core = Evaluator(ME, max_batch=2)
    assert core.handle(UpdatesCommitted((A, B, C))) == [ReadTasks((A, B))]
    assert core.handle(TasksRead((doc(A), doc(B)))) == [Evaluate((task(A), task(B)))]
    out = core.handle(scored((A, ("va",)), (B, ("vb",))))
    assert out == [SubmitVotes(("va", "vb"), 0), ReadTasks((C,))]


def test_the_task_lists_the_blobs_to_read() -> None:
    assert task(A).blobs == ["b0", "daa"]
    assert task(A, previous="p0").blobs == ["b0", "daa", "p0"]


def test_results_for_no_batch_in_flight_are_an_error() -> None:
    core = Evaluator(ME, max_batch=8)
    with pytest.raises(ValueError, match="no batch in flight"):
        core.handle(TasksRead((None,)))
    core.handle(UpdatesCommitted((A,)))
    with pytest.raises(ValueError, match="no batch in flight"):
        core.handle(TasksRead((doc(A), doc(B))))  # not the batch's length
    core.handle(TasksRead((doc(A),)))
    with pytest.raises(ValueError, match="no batch in flight"):
        core.handle(scored((B, ("v",))))


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        Evaluator(ME, max_batch=0)
