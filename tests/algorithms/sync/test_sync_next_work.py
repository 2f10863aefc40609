"""What a trainer does next, per scheme class (the rule every runtime follows)."""

from __future__ import annotations

import pytest

from flobc.algorithms.sync import SCHEMES, TrainerView, Work, next_work

TRAIN_NEW, WAIT = Work("train_new"), Work("wait")


def view(scheme: str, **kw: object) -> TrainerView:
    base: dict = {
        "latest_version": 3,
        "trained_version": 3,
        "submitted": True,
        "extra_done": False,
        "round_extended": True,
    }
    return TrainerView(scheme, **{**base, **kw})


@pytest.mark.parametrize(
    ("scheme", "case", "expected"),
    [
        # every scheme: a new version is trained first; nothing to do before a submission
        *[(s, {"latest_version": 4}, TRAIN_NEW) for s in ("bsp", "ssp", "bap", "asp")],
        *[(s, {"trained_version": -1, "latest_version": 0}, TRAIN_NEW) for s in SCHEMES],
        *[(s, {"submitted": False}, WAIT) for s in ("bsp", "ssp", "bap", "asp")],
        # BSP/ASP: wait for the next version
        ("bsp", {}, WAIT),
        ("asp", {}, WAIT),
        # SSP: once per extension, only for trainers done by the deadline
        ("ssp", {}, Work("train_more", 5)),
        ("ssp", {"round_extended": False}, WAIT),
        ("ssp", {"extra_done": True}, WAIT),
        ("ssp", {"submitted_in_extension": True}, WAIT),
        # BAP: keep training and sharing
        ("bap", {}, Work("train_more", 7)),
        ("bap", {"round_extended": False, "extra_done": True}, Work("train_more", 7)),
    ],
)
def test_next_work(scheme: str, case: dict, expected: Work) -> None:
    assert next_work(view(scheme, **case), ssp_extra_steps=5, share_every_steps=7) == expected


def test_zero_steps_mean_no_extra_training_or_epochs() -> None:
    assert next_work(view("ssp"), ssp_extra_steps=0, share_every_steps=7) == WAIT
    assert next_work(view("bap"), ssp_extra_steps=5, share_every_steps=0) == Work("train_more")


def test_unknown_scheme_is_named() -> None:
    with pytest.raises(ValueError, match="unknown sync scheme 'gossip'"):
        next_work(view("gossip"), ssp_extra_steps=5, share_every_steps=7)
