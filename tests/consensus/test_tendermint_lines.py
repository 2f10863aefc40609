"""`consensus/tendermint.py` driven one transition at a time: the vote phase, lines
34-67 of Algorithm 1 in "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic
2018): polkas and locks, precommits, decisions, skipping to a higher round and the three
timeouts, plus equivocation evidence. The propose phase is in
``test_tendermint_propose.py``.

How a row reads (state before, one input, exact outputs, state after) and the fixed
validator set are described in ``tendermint_rows.py``.
"""

from __future__ import annotations

import pytest
from tendermint_rows import (
    COMMIT,
    NOW,
    PRECOMMIT,
    PREVOTE,
    PREVOTED_B,
    PREVOTED_NIL,
    PROPOSE,
    PROPOSED_B,
    TO_ROUND_1,
    A,
    B,
    H,
    Row,
    State,
    my_precommit,
    my_prevote,
    precommit,
    prevote,
    proposal,
    run_row,
    schedule,
    timeout,
    validate,
    verdict,
)

from flobc.chain.types import Commit, CommitSig
from flobc.consensus.messages import (
    Decide,
    Misbehaviour,
    RequestProposal,
)

ROWS = [
    # ---- L34-35
    Row(
        "L34_first_prevote_quorum_for_anything_schedules_prevote_timeout",
        State(0, PREVOTE),
        prevote(3, 0, B),
        [schedule(PREVOTE, 0, 200)],
        State(0, PREVOTE),
        prefix=[*PREVOTED_NIL, prevote(1, 0, A), prevote(2, 0, None)],
    ),
    Row(
        "L34_only_the_first_time",
        State(0, PREVOTE),
        prevote(0, 0, None),
        [],
        State(0, PREVOTE),
        prefix=[*PREVOTED_NIL, prevote(1, 0, A), prevote(2, 0, None), prevote(3, 0, B)],
    ),
    Row(
        "L34_not_in_the_propose_step",
        State(0, PROPOSE),
        prevote(3, 0, B),
        [],
        State(0, PROPOSE),
        prefix=[prevote(1, 0, A), prevote(2, 0, None)],
    ),
    # ---- L36-43
    Row(
        "L36_L41_prevote_quorum_for_a_valid_proposal_locks_and_precommits",
        State(0, PREVOTE),
        prevote(3, 0, B),
        [schedule(PREVOTE, 0, 200), my_precommit(0, 0, B)],
        State(0, PRECOMMIT, (0, "B"), (0, "B")),
        prefix=[*PREVOTED_B, prevote(1, 0, B), prevote(2, 0, B)],
    ),
    Row(
        "L36_L42_in_the_precommit_step_only_valid_value_is_updated",
        State(0, PRECOMMIT),
        prevote(3, 0, B),
        [],
        State(0, PRECOMMIT, (-1, None), (0, "B")),
        prefix=[*PREVOTED_B, timeout(PREVOTE, 0), prevote(1, 0, B), prevote(2, 0, B)],
    ),
    Row(
        "L36_waits_for_the_verdict",
        State(0, PREVOTE),
        prevote(3, 0, B),
        [schedule(PREVOTE, 0, 200)],
        State(0, PREVOTE),
        prefix=[*PROPOSED_B, *PREVOTED_NIL, prevote(1, 0, B), prevote(2, 0, B)],
    ),
    Row(
        "L36_fires_when_the_verdict_arrives",
        State(0, PREVOTE),
        verdict(0, B),
        [my_precommit(0, 0, B)],
        State(0, PRECOMMIT, (0, "B"), (0, "B")),
        prefix=[*PROPOSED_B, *PREVOTED_NIL, prevote(1, 0, B), prevote(2, 0, B), prevote(3, 0, B)],
    ),
    Row(
        "L36_never_for_an_invalid_value",
        State(0, PREVOTE),
        prevote(3, 0, B),
        [schedule(PREVOTE, 0, 200)],
        State(0, PREVOTE),
        prefix=[*PROPOSED_B, verdict(0, B, valid=False), prevote(1, 0, B), prevote(2, 0, B)],
    ),
    # ---- L44-46
    Row(
        "L44_prevote_quorum_for_nil_precommits_nil",
        State(0, PREVOTE),
        prevote(3, 0, None),
        [schedule(PREVOTE, 0, 200), my_precommit(0, 0, None)],
        State(0, PRECOMMIT),
        prefix=[*PREVOTED_NIL, prevote(1, 0, None), prevote(2, 0, None)],
    ),
    # ---- L47-48
    Row(
        "L47_first_precommit_quorum_for_anything_schedules_precommit_timeout",
        State(0, PROPOSE),
        precommit(3, 0, None),
        [schedule(PRECOMMIT, 0, 300)],
        State(0, PROPOSE),
        prefix=[precommit(1, 0, A), precommit(2, 0, B)],
    ),
    Row(
        "L47_only_the_first_time",
        State(0, PROPOSE),
        precommit(0, 0, None),
        [],
        State(0, PROPOSE),
        prefix=[precommit(1, 0, A), precommit(2, 0, B), precommit(3, 0, None)],
    ),
    # ---- L49-54
    Row(
        "L49_precommit_quorum_for_a_valid_proposal_decides",
        State(0, PREVOTE),
        precommit(3, 0, B),
        [Decide(B, Commit(H, 0, B.hash, [CommitSig(i, NOW, b"") for i in (1, 2, 3)]))],
        State(0, COMMIT),
        prefix=[*PREVOTED_B, precommit(1, 0, B), precommit(2, 0, B)],
    ),
    Row(
        "L49_decides_a_value_of_an_earlier_round",
        State(1, PROPOSE),
        precommit(3, 0, B),
        [Decide(B, Commit(H, 0, B.hash, [CommitSig(i, NOW, b"") for i in (1, 2, 3)]))],
        State(1, COMMIT),
        prefix=[*PREVOTED_B, *TO_ROUND_1, precommit(1, 0, B), precommit(2, 0, B)],
    ),
    Row(
        "L49_waits_for_the_verdict",
        State(0, PROPOSE),
        verdict(0, B),
        [Decide(B, Commit(H, 0, B.hash, [CommitSig(i, NOW, b"") for i in (1, 2, 3)]))],
        State(0, COMMIT),
        prefix=[*PROPOSED_B, precommit(1, 0, B), precommit(2, 0, B), precommit(3, 0, B)],
    ),
    Row(
        "L49_an_invalid_value_is_never_decided",
        State(0, PREVOTE),
        precommit(3, 0, B),
        [schedule(PRECOMMIT, 0, 300)],
        State(0, PREVOTE),
        prefix=[*PROPOSED_B, verdict(0, B, valid=False), precommit(1, 0, B), precommit(2, 0, B)],
    ),
    Row(
        "L49_without_the_proposal_nothing_is_decided",
        State(0, PROPOSE),
        precommit(3, 0, B),
        [schedule(PRECOMMIT, 0, 300)],
        State(0, PROPOSE),
        prefix=[precommit(1, 0, B), precommit(2, 0, B)],
    ),
    # ---- L55-56
    Row(
        "L55_f_plus_one_peers_in_a_higher_round_start_it",
        State(0, PROPOSE),
        prevote(3, 2, None),
        [schedule(PROPOSE, 2, 100 + 2 * 10)],
        State(2, PROPOSE),
        prefix=[prevote(1, 2, None)],
    ),
    Row(
        "L55_a_proposal_counts_as_a_message_of_its_round",
        State(0, PROPOSE),
        proposal(2, A),
        [validate(2, A), schedule(PROPOSE, 2, 100 + 2 * 10)],
        State(2, PROPOSE),
        prefix=[prevote(1, 2, None)],
    ),
    Row(
        "L55_f_peers_are_not_enough",
        State(0, PROPOSE),
        precommit(1, 2, None),
        [],
        State(0, PROPOSE),
        prefix=[prevote(1, 2, None)],
    ),
    # ---- L57-60
    Row(
        "L57_propose_timeout_prevotes_nil",
        State(0, PROPOSE),
        timeout(PROPOSE, 0),
        [my_prevote(0, 0, None)],
        State(0, PREVOTE),
    ),
    Row(
        "L57_after_the_propose_step_the_timeout_is_ignored",
        State(0, PREVOTE),
        timeout(PROPOSE, 0),
        [],
        State(0, PREVOTE),
        prefix=PREVOTED_B,
    ),
    Row(
        "L57_timeout_of_another_round_is_ignored",
        State(1, PROPOSE),
        timeout(PROPOSE, 0),
        [],
        State(1, PROPOSE),
        prefix=TO_ROUND_1,
    ),
    # ---- L61-64
    Row(
        "L61_prevote_timeout_precommits_nil",
        State(0, PREVOTE),
        timeout(PREVOTE, 0),
        [my_precommit(0, 0, None)],
        State(0, PRECOMMIT),
        prefix=PREVOTED_B,
    ),
    Row(
        "L61_in_the_precommit_step_the_timeout_is_ignored",
        State(0, PRECOMMIT),
        timeout(PREVOTE, 0),
        [],
        State(0, PRECOMMIT),
        prefix=[*PREVOTED_B, timeout(PREVOTE, 0)],
    ),
    # ---- L65-67
    Row(
        "L65_precommit_timeout_starts_the_next_round",
        State(0, PRECOMMIT),
        timeout(PRECOMMIT, 0),
        [schedule(PROPOSE, 1, 100 + 10)],
        State(1, PROPOSE),
        prefix=[*PREVOTED_B, timeout(PREVOTE, 0)],
    ),
    Row(
        "L65_L18_next_round_proposer_without_valid_value_asks_for_one",
        State(2, PRECOMMIT),
        timeout(PRECOMMIT, 2),
        [RequestProposal(H, 3), schedule(PROPOSE, 3, 100 + 3 * 10)],
        State(3, PROPOSE),
        prefix=[prevote(1, 2, None), prevote(2, 2, None), timeout(PROPOSE, 2), timeout(PREVOTE, 2)],
    ),
    Row(
        "L65_stale_precommit_timeout_is_ignored",
        State(1, PROPOSE),
        timeout(PRECOMMIT, 0),
        [],
        State(1, PROPOSE),
        prefix=TO_ROUND_1,
    ),
    # ---- evidence (not a line of Algorithm 1, but an output of the same transitions)
    Row(
        "equivocating_prevote_is_reported",
        State(0, PROPOSE),
        prevote(1, 0, B),
        [Misbehaviour(1, H, 0, "two PREVOTEs")],
        State(0, PROPOSE),
        prefix=[prevote(1, 0, A)],
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.line for r in ROWS])
def test_line(row: Row) -> None:
    run_row(row)


def test_every_line_of_the_vote_phase_has_a_row() -> None:
    lines = {"L34", "L36", "L44", "L47", "L49", "L55", "L57", "L61", "L65"}
    assert lines <= {r.line.split("_")[0] for r in ROWS}
