"""A validator's early ballots wait for the ballots of updates pending at it, so that one
vote transaction (and one block) carries them all; never longer than its bound."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from flobc.node_apps.fl.ballot_hold import BallotHold


@dataclass(frozen=True)
class Ballot:
    update_id: bytes


A, B, C, D = (Ballot(bytes([i]) * 32) for i in range(4))


def test_ballots_scored_while_updates_are_pending_go_with_the_next_ones() -> None:
    hold = BallotHold(max_s=1.0)
    assert hold.offer([A], pending=True, now=0.0) == []
    assert hold.held == [A] and hold.since == 0.0
    assert not hold.due(pending=True, now=0.5)
    assert hold.offer([B, C], pending=False, now=0.2) == [(A, B, C)]
    assert hold.held == [] and hold.since is None


def test_nothing_is_held_when_no_update_is_pending() -> None:
    hold = BallotHold()
    assert hold.offer([A, B], pending=False, now=0.0) == [(A, B)]
    assert not hold.due(pending=False, now=0.0)  # nothing held


def test_held_ballots_are_due_once_nothing_is_pending_or_they_waited_the_bound() -> None:
    hold = BallotHold(max_s=1.0)
    hold.offer([A], pending=True, now=10.0)
    assert not hold.due(pending=True, now=10.9)
    assert hold.due(pending=False, now=10.1)
    assert hold.due(pending=True, now=11.0)
    # a batch that finds updates still pending after the bound is sent with the held ones
    assert hold.offer([B], pending=True, now=11.0) == [(A, B)]


def test_a_ballot_on_an_update_already_held_is_dropped() -> None:
    hold = BallotHold()
    hold.offer([A, B], pending=True, now=0.0)
    assert hold.offer([B, C], pending=False, now=0.1) == [(A, B, C)]


def test_flush_splits_at_the_transaction_bound_in_scoring_order() -> None:
    hold = BallotHold(max_ballots=3)
    hold.offer([A, B], pending=True, now=0.0)
    assert hold.offer([C, D], pending=False, now=0.1) == [(A, B, C), (D,)]


def test_the_transaction_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_ballots"):
        BallotHold(max_ballots=0)
