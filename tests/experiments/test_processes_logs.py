"""The processes runner's reading of node logs: a vote transaction carries a batch of
ballots, so one validation is the batch's seconds over its ballots."""

from __future__ import annotations

from pathlib import Path

import pytest

from flobc.experiments.processes import _log_times, slowest_training_s, validation_s

P = "2026-12-03 16:50:44,386 {} INFO flobc.fl: "
VOTE = "voted on cae3d89d60d4: {} ballot(s) in one tx, score 0.7343 (base 0.4536) in {}s: ok"
VALIDATOR_0 = "\n".join(
    [
        P.format("validator-0") + "prepared version 0 (0 local steps) in 6.28s",
        P.format("validator-0") + VOTE.format(3, "4.50"),
        P.format("validator-0") + VOTE.format(1, "0.50"),
    ]
)
VALIDATOR_1 = P.format("validator-1") + VOTE.format(2, "3.00")
TRAINER_0 = "\n".join(
    P.format("trainer-0") + f"version {v}: trained {s}s (loss 1.1), upload -> 200 accepted"
    for v, s in ((0, "3.10"), (1, "2.90"))
)


def test_one_validation_is_a_batch_over_its_ballots(tmp_path: Path) -> None:
    (tmp_path / "validator-0.log").write_text(VALIDATOR_0)
    (tmp_path / "validator-1.log").write_text(VALIDATOR_1)
    (tmp_path / "trainer-0.log").write_text(TRAINER_0)
    logs = _log_times(tmp_path)
    assert logs["voted"] == {"0": [[3, 4.5], [1, 0.5]], "1": [[2, 3.0]]}
    assert logs["trained"] == {"0": [[0, 3.1], [1, 2.9]]}
    # validator 0: 5.0 s over 4 ballots; validator 1: 1.5 s per ballot (the slowest)
    assert validation_s(logs) == pytest.approx(1.5)
    assert slowest_training_s(logs) == pytest.approx(3.0)


def test_older_logs_of_one_float_per_vote_still_read() -> None:
    assert validation_s({"voted": {"0": [0.2, 0.4]}, "trained": {}}) == pytest.approx(0.3)


def test_held_ballots_count_once_with_the_batch_that_scored_them(tmp_path: Path) -> None:
    """A batch held back (updates pending) logs its ballots and seconds when scored; the
    transaction that later carries it counts only its own batch."""
    held = "voted on aa: 1 ballot(s), score 0.5 (base 0.4) in 0.30s: held while updates are pending"
    sent = VOTE.format(6, "0.90") + ", with 1 held ballot(s)"
    flushed = VOTE.format(0, "0.00") + ", with 2 held ballot(s)"
    (tmp_path / "validator-0.log").write_text(
        "\n".join(P.format("validator-0") + line for line in (held, sent, flushed))
    )
    logs = _log_times(tmp_path)
    assert logs["voted"] == {"0": [[1, 0.3], [6, 0.9], [0, 0.0]]}
    assert validation_s(logs) == pytest.approx(1.2 / 7)


def test_updates_scored_ahead_count_with_their_seconds_and_not_again(tmp_path: Path) -> None:
    """Updates scored before their block committed log their own line; the vote batch that
    then finds them says how many it scored itself."""
    ahead = "scored 6 pending update(s) ahead in 0.60s"
    sent = VOTE.format(7, "0.10").replace("s: ok", "s (1 scored): ok")
    (tmp_path / "validator-0.log").write_text(
        "\n".join(P.format("validator-0") + line for line in (ahead, sent))
    )
    logs = _log_times(tmp_path)
    assert logs["voted"] == {"0": [[1, 0.1], [6, 0.6]]}
    assert validation_s(logs) == pytest.approx(0.1)
