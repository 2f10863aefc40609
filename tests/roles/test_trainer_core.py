"""The trainer core, input by input: which effects it asks for under each sync scheme.

Weights, transactions and views are opaque to the core, so the tables use strings."""

from __future__ import annotations

from typing import Any

import pytest

from flobc.algorithms.sync import TrainerView, Work, next_work
from flobc.node_apps.fl.settings import load_config
from flobc.node_apps.fl.trainer_core import scheme_policy
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
    UpdateBuilt,
    ViewFetched,
    Wait,
)
from flobc.roles.trainer import Phase, Progress, Trainer

EXTRA, SHARE = 3, 5


def policy(scheme: str) -> Any:
    def decide(p: Progress) -> Work:
        view = TrainerView(
            scheme,
            p.latest_version,
            p.trained_version,
            p.submitted,
            p.extra_done,
            p.round_extended,
            p.submitted_in_extension,
        )
        return next_work(view, ssp_extra_steps=EXTRA, share_every_steps=SHARE)

    return decide


def read(v: int, extended: bool = False) -> LedgerRead:
    return LedgerRead(v, f"h{v}", extended)


def first_update(v: int = 0, extended_at_submit: bool = False) -> list[tuple[Any, list[Any]]]:
    """One fresh cycle on version ``v``: fetch, train, build, submit."""
    return [
        (read(v), [FetchModel(v, f"h{v}")]),
        (ModelFetched(v, f"w{v}"), [Train(v, f"w{v}", None, None, 0)]),
        (Trained(f"l{v}", 10), [BuildUpdate(v, f"w{v}", f"l{v}", 0, 10, None)]),
        (UpdateBuilt(f"tx{v}", b"d"), [Submit(v, f"tx{v}", b"d")]),
        (Submitted(True, "", extended_at_submit), []),
    ]


def more(v: int, start: str, rnd: int, steps: int, extended: bool) -> list[tuple[Any, list[Any]]]:
    """A continued training on version ``v`` from ``start``, shared as round ``rnd``."""
    local = f"{start}+"
    return [
        (read(v, extended), [Train(v, f"w{v}", start, steps, rnd)]),
        (Trained(local, steps), [BuildUpdate(v, f"w{v}", local, rnd, steps, None)]),
        (UpdateBuilt(f"tx{v}.{rnd}", b"d"), [Submit(v, f"tx{v}.{rnd}", b"d")]),
        (Submitted(True, "", extended), []),
    ]


SCENARIOS: dict[str, tuple[str, list[tuple[Any, list[Any]]]]] = {
    "bsp: one update per version, then wait, extension or not": (
        "bsp",
        [
            *first_update(0),
            (read(0), [Wait()]),
            (read(0, extended=True), [Wait()]),
            *first_update(1),
            (read(1), [Wait()]),
        ],
    ),
    "asp: one update per version, as bsp": (
        "asp",
        [*first_update(0), (read(0), [Wait()]), *first_update(2), (read(2), [Wait()])],
    ),
    "ssp: on time, then once more during the extension": (
        "ssp",
        [
            *first_update(0),
            (read(0), [Wait()]),  # no extension: nothing more to do
            *more(0, "l0", 1, EXTRA, extended=True),
            (read(0, extended=True), [Wait()]),  # the extension is used once
            *first_update(1),  # a new version resets it
            *more(1, "l1", 1, EXTRA, extended=True),
        ],
    ),
    "ssp: an update that landed in the extension is not extended": (
        "ssp",
        [*first_update(0, extended_at_submit=True), (read(0, extended=True), [Wait()])],
    ),
    "bap: keep training the same base, share every N steps": (
        "bap",
        [
            *first_update(0),
            *more(0, "l0", 1, SHARE, extended=False),
            *more(0, "l0+", 2, SHARE, extended=False),
            *first_update(1),  # a new version: pull it, rounds restart
            *more(1, "l1", 1, SHARE, extended=False),
        ],
    ),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_trainer_effects_per_scheme(name: str) -> None:
    scheme, steps = SCENARIOS[name]
    core = Trainer(policy(scheme))
    for k, (event, expected) in enumerate(steps):
        assert core.handle(event) == expected, f"step {k}: {event}"


def test_reads_are_ignored_while_a_cycle_is_in_flight() -> None:
    core = Trainer(policy("bsp"))
    core.handle(read(0))
    for phase_input in (ModelFetched(0, "w0"), Trained("l0", 1), UpdateBuilt("tx", b"d")):
        assert core.handle(read(1)) == []
        core.handle(phase_input)
    assert core.phase is Phase.SUBMITTING and core.handle(read(1)) == []


def test_an_attacker_reads_the_ledger_before_building() -> None:
    core = Trainer(policy("bsp"), wants_view=True)
    core.handle(read(2))
    core.handle(ModelFetched(2, "w2"))
    assert core.handle(Trained("l2", 4)) == [FetchView(2)]
    assert core.handle(ViewFetched("view")) == [BuildUpdate(2, "w2", "l2", 0, 4, "view")]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # a failed fetch leaves the version untrained: the next read fetches again
        ([read(0)], [FetchModel(0, "h0")]),
        # a failed upload is sent again while the version is unchanged...
        (
            [read(0), ModelFetched(0, "w0"), Trained("l", 1), UpdateBuilt("tx", b"d")],
            [Submit(0, "tx", b"d")],
        ),
    ],
)
def test_failed_io_is_retried_on_the_next_read(steps: list[Any], expected: list[Any]) -> None:
    core = Trainer(policy("bsp"))
    for event in steps:
        core.handle(event)
    assert core.handle(Failed("no validator is reachable")) == [Wait()]
    assert core.phase is Phase.IDLE
    assert core.handle(read(0)) == expected


def test_a_failed_view_is_fetched_again_and_a_stale_upload_is_dropped() -> None:
    core = Trainer(policy("bsp"), wants_view=True)
    for event in (read(0), ModelFetched(0, "w0"), Trained("l", 1)):
        core.handle(event)
    assert core.handle(Failed("timeout")) == [Wait()]
    assert core.handle(read(0)) == [FetchView(0)]
    core.handle(ViewFetched(None))
    core.handle(UpdateBuilt("tx", b"d"))
    core.handle(Failed("timeout"))
    assert core.handle(read(1)) == [FetchModel(1, "h1")]  # ...but not once a version is out


def test_a_private_trainer_resumes_its_accounting_then_plans_on_the_same_read() -> None:
    core = Trainer(policy("bsp"), private=True)
    spent = PrivacySpent(2, 3.5)
    assert core.handle(read(4)) == [FetchPrivacySpent()]
    assert core.handle(read(5)) == []  # busy resuming
    assert core.handle(spent) == [ResumePrivacy(spent)]
    assert core.handle(PrivacyResumed()) == [FetchModel(4, "h4")]
    assert core.resumed


def test_a_failed_privacy_read_is_tried_again_and_a_spent_budget_stops() -> None:
    core = Trainer(policy("bsp"), private=True)
    core.handle(read(0))
    assert core.handle(Failed("no validator is reachable")) == [Wait()]
    assert core.handle(read(0)) == [FetchPrivacySpent()]
    core.handle(PrivacySpent(3, 8.0))
    assert core.handle(Stopped("privacy budget already spent")) == [
        Stop("privacy budget already spent")
    ]


def test_the_ledger_record_of_releases_is_the_trainers_own() -> None:
    doc = [
        {"public_key": "aa", "dp_releases": 1, "epsilon": 0.5},
        {"public_key": "bb", "dp_releases": 4, "epsilon": 2.25},
    ]
    assert PrivacySpent.from_trainers(doc, "bb") == PrivacySpent(4, 2.25)
    assert PrivacySpent.from_trainers(doc, "cc") == PrivacySpent(0, 0.0)


def test_a_stopped_trainer_does_nothing_more() -> None:
    core = Trainer(policy("bsp"))
    core.handle(read(0))
    core.handle(ModelFetched(0, "w0"))
    assert core.handle(Stopped("privacy budget spent")) == [Stop("privacy budget spent")]
    assert core.stopped == "privacy budget spent"
    assert core.handle(read(1)) == []


@pytest.mark.parametrize(
    "event", [ModelFetched(0, "w"), Trained("l", 1), Submitted(True, "", False)]
)
def test_an_input_out_of_turn_is_an_error(event: Any) -> None:
    core = Trainer(policy("bsp"))
    with pytest.raises(ValueError, match="while idle"):
        core.handle(event)


@pytest.mark.parametrize("steps", [[], [read(0), ModelFetched(0, "w0")]], ids=["idle", "training"])
def test_only_io_effects_fail(steps: list[Any]) -> None:
    core = Trainer(policy("bsp"))
    for event in steps:
        core.handle(event)
    with pytest.raises(ValueError, match="only I/O effects fail"):
        core.handle(Failed("?"))


def test_a_rejected_upload_counts_as_the_versions_update() -> None:
    core = Trainer(policy("bsp"))
    for event, _ in first_update(0)[:-1]:
        core.handle(event)
    assert core.handle(Submitted(False, "stale base version", False)) == []
    assert core.last_outcome == (False, "stale base version")
    assert core.handle(read(0)) == [Wait()]


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [("bsp", Work("wait")), ("ssp", Work("train_more", 7)), ("bap", Work("train_more", 9))],
)
def test_scheme_policy_reads_the_run_configuration(scheme: str, expected: Work) -> None:
    cfg = load_config(
        None,
        **{"sync.scheme": scheme, "sync.ssp_max_extra_steps": 7, "sync.share_every_steps": 9},
    )
    done = Progress(0, 0, True, False, True, False)
    assert scheme_policy(cfg)(done) == expected
    assert scheme_policy(cfg)(Progress(1, 0, True, False, False, False)) == Work("train_new")
