"""`consensus/tendermint.py` driven one transition at a time: the propose phase, lines
11-33 of Algorithm 1 in "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic
2018): starting a round, proposing, and prevoting on a fresh proposal or a re-proposal.
The vote phase and the timeouts are in ``test_tendermint_lines.py``.

How a row reads (state before, one input, exact outputs, state after) and the fixed
validator set are described in ``tendermint_rows.py``.
"""

from __future__ import annotations

import pytest
from tendermint_rows import (
    CHAIN,
    LOCKED_A,
    NOW,
    PARAMS,
    PRECOMMIT,
    PREV_TIME,
    PREVOTE,
    PREVOTED_NIL,
    PROPOSE,
    PROPOSED_B,
    START,
    TO_ROUND_1,
    VSET,
    A,
    B,
    H,
    Row,
    State,
    my_prevote,
    prevote,
    proposal,
    run_row,
    schedule,
    validate,
    verdict,
)

from flobc.chain.types import Proposal
from flobc.consensus.messages import (
    ProposalReady,
    ProposalReceived,
    RequestProposal,
    SignProposal,
    TxsAvailable,
    ValidateProposal,
)
from flobc.consensus.tendermint import Tendermint

ROWS = [
    # ---- L11-21: StartRound, proposer choice, validValue re-proposal
    Row(
        "L11_L18_start_round_as_proposer_asks_for_a_value",
        None,
        START,
        [RequestProposal(H, 0), schedule(PROPOSE, 0, 100 + 1000)],
        State(0, PROPOSE),
        me=1,
    ),
    Row(
        "L11_L21_start_round_as_non_proposer_schedules_propose_timeout",
        None,
        START,
        [schedule(PROPOSE, 0, 100 + 1000)],
        State(0, PROPOSE),
    ),
    Row(
        "L19_proposer_signs_the_value_it_was_given",
        State(0, PROPOSE),
        ProposalReady(H, 0, A),
        [SignProposal(Proposal(H, 0, -1, A, 1))],
        State(0, PROPOSE),
        me=1,
    ),
    Row(
        "L19_a_value_for_another_round_is_not_proposed",
        State(0, PROPOSE),
        ProposalReady(H, 1, A),
        [],
        State(0, PROPOSE),
        me=1,
    ),
    # L21, round 0, with transactions pending: a correct proposer proposes
    # timeout_commit (0 here) after the commit, not after the empty-block interval (1000)
    Row(
        "L21_txs_available_shortens_the_round_0_propose_timeout",
        State(0, PROPOSE),
        TxsAvailable(H),
        [schedule(PROPOSE, 0, 100)],
        State(0, PROPOSE),
    ),
    Row(
        "L21_txs_available_later_counts_from_their_arrival",
        State(0, PROPOSE),
        TxsAvailable(H),
        [schedule(PROPOSE, 0, 100)],
        State(0, PROPOSE),
        at=NOW + 400,
    ),
    Row(
        "L21_txs_available_after_the_empty_block_interval_changes_nothing",
        State(0, PROPOSE),
        TxsAvailable(H),
        [],
        State(0, PROPOSE),
        at=NOW + 1000,
    ),
    Row(
        "L21_txs_available_twice_reschedules_once",
        State(0, PROPOSE),
        TxsAvailable(H),
        [],
        State(0, PROPOSE),
        prefix=[TxsAvailable(H)],
    ),
    Row(
        "L21_txs_available_for_another_height_is_ignored",
        State(0, PROPOSE),
        TxsAvailable(H + 1),
        [],
        State(0, PROPOSE),
    ),
    Row(
        "L21_txs_available_in_a_later_round_changes_nothing",
        State(1, PROPOSE),
        TxsAvailable(H),
        [],
        State(1, PROPOSE),
        prefix=TO_ROUND_1,
    ),
    Row(
        "L21_txs_available_after_our_prevote_changes_nothing",
        State(0, PREVOTE),
        TxsAvailable(H),
        [],
        State(0, PREVOTE),
        prefix=PREVOTED_NIL,
    ),
    Row(
        "L14_L16_proposer_reproposes_its_valid_value_with_valid_round",
        State(0, PRECOMMIT, (0, "A"), (0, "A")),
        prevote(2, 3, None),
        [SignProposal(Proposal(H, 3, 0, A, 0)), schedule(PROPOSE, 3, 100 + 3 * 10)],
        State(3, PROPOSE, (0, "A"), (0, "A")),
        prefix=[*LOCKED_A, prevote(1, 3, None)],
    ),
    # ---- L22-27: a fresh proposal (validRound = -1)
    Row(
        "L22_proposal_from_the_proposer_asks_for_its_validity",
        State(0, PROPOSE),
        proposal(0, B),
        [validate(0, B)],
        State(0, PROPOSE),
    ),
    Row(
        "L22_proposal_from_a_non_proposer_is_ignored",
        State(0, PROPOSE),
        ProposalReceived(Proposal(H, 0, -1, B, 2), True),
        [],
        State(0, PROPOSE),
    ),
    Row(
        "L22_L24_valid_value_while_unlocked_is_prevoted",
        State(0, PROPOSE),
        verdict(0, B),
        [my_prevote(0, 0, B)],
        State(0, PREVOTE),
        prefix=PROPOSED_B,
    ),
    Row(
        "L22_L26_invalid_value_is_prevoted_nil",
        State(0, PROPOSE),
        verdict(0, B, valid=False),
        [my_prevote(0, 0, None)],
        State(0, PREVOTE),
        prefix=PROPOSED_B,
    ),
    Row(
        "L22_L26_locked_on_another_value_prevotes_nil",
        State(1, PROPOSE, (0, "A"), (0, "A")),
        verdict(1, B),
        [my_prevote(0, 1, None)],
        State(1, PREVOTE, (0, "A"), (0, "A")),
        prefix=[*LOCKED_A, *TO_ROUND_1, proposal(1, B)],
    ),
    Row(
        "L22_L24_locked_on_the_same_value_prevotes_it",
        State(1, PROPOSE, (0, "A"), (0, "A")),
        proposal(1, A),  # A's verdict is already known: no new ValidateProposal
        [my_prevote(0, 1, A)],
        State(1, PREVOTE, (0, "A"), (0, "A")),
        prefix=[*LOCKED_A, *TO_ROUND_1],
    ),
    Row(
        "L22_verdict_for_a_value_nobody_proposed_is_ignored",
        State(0, PROPOSE),
        verdict(0, A),
        [],
        State(0, PROPOSE),
        prefix=PROPOSED_B,
    ),
    # ---- L28-33: a re-proposal carrying a proof of lock (validRound >= 0)
    Row(
        "L28_L30_value_with_a_prevote_quorum_in_valid_round_is_prevoted",
        State(1, PROPOSE),
        verdict(1, B),
        [my_prevote(0, 1, B)],
        State(1, PREVOTE),
        prefix=[
            prevote(1, 0, B),
            prevote(2, 0, B),
            prevote(3, 0, B),
            *TO_ROUND_1,
            proposal(1, B, pol=0),
        ],
    ),
    Row(
        "L28_without_the_prevote_quorum_of_valid_round_nothing_happens",
        State(1, PROPOSE),
        verdict(1, B),
        [],
        State(1, PROPOSE),
        prefix=[prevote(1, 0, B), prevote(2, 0, B), *TO_ROUND_1, proposal(1, B, pol=0)],
    ),
    Row(
        "L28_L30_lock_not_later_than_valid_round_prevotes_the_value",
        State(1, PROPOSE, (0, "A"), (0, "A")),
        proposal(1, A, pol=0),
        [my_prevote(0, 1, A)],
        State(1, PREVOTE, (0, "A"), (0, "A")),
        prefix=[*LOCKED_A, *TO_ROUND_1],
    ),
    Row(
        "L28_L30_a_newer_proof_of_lock_than_the_lock_prevotes_the_other_value",
        State(2, PROPOSE, (0, "A"), (0, "A")),
        verdict(2, B),
        [my_prevote(0, 2, B)],
        State(2, PREVOTE, (0, "A"), (0, "A")),
        prefix=[
            *LOCKED_A,
            *TO_ROUND_1,
            prevote(1, 1, B),
            prevote(2, 1, B),
            prevote(3, 1, B),  # B has a proof of lock in round 1, after the lock on A
            prevote(1, 2, None),
            prevote(2, 2, None),
            proposal(2, B, pol=1),
        ],
    ),
    Row(
        "L28_L32_locked_in_a_later_round_than_valid_round_prevotes_nil",
        State(2, PROPOSE, (1, "A"), (1, "A")),
        verdict(2, B),
        [my_prevote(0, 2, None)],
        State(2, PREVOTE, (1, "A"), (1, "A")),
        prefix=[
            prevote(1, 0, B),
            prevote(2, 0, B),
            prevote(3, 0, B),  # B has a proof of lock in round 0 ...
            *TO_ROUND_1,
            proposal(1, A),
            verdict(1, A),
            prevote(1, 1, A),
            prevote(2, 1, A),
            prevote(3, 1, A),  # ... but validator 0 locked A in round 1
            prevote(1, 2, None),
            prevote(2, 2, None),
            proposal(2, B, pol=0),
        ],
    ),
    Row(
        "L28_L32_invalid_value_with_a_proof_of_lock_is_prevoted_nil",
        State(1, PROPOSE),
        verdict(1, B, valid=False),
        [my_prevote(0, 1, None)],
        State(1, PREVOTE),
        prefix=[
            prevote(1, 0, B),
            prevote(2, 0, B),
            prevote(3, 0, B),
            *TO_ROUND_1,
            proposal(1, B, pol=0),
        ],
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.line for r in ROWS])
def test_line(row: Row) -> None:
    run_row(row)


def test_every_line_of_the_propose_phase_has_a_row() -> None:
    assert {"L11", "L14", "L18", "L19", "L21", "L22", "L28"} <= {
        line for r in ROWS for line in r.line.split("_") if line[:1] == "L"
    }


def test_verdict_is_asked_once_per_value_and_first_answer_counts() -> None:
    t = Tendermint(CHAIN, VSET, 0, PARAMS)
    t.start_height(H, PREV_TIME, NOW)
    assert t.handle(proposal(0, B), NOW) == [validate(0, B)]
    assert t.awaited_validity() == [validate(0, B)]
    t.handle(prevote(1, 2, None), NOW)
    out = t.handle(proposal(2, B), NOW)  # the same value again, in round 2
    assert t.round == 2 and not [a for a in out if isinstance(a, ValidateProposal)]
    t.handle(verdict(0, B, valid=False), NOW)
    t.handle(verdict(0, B, valid=True), NOW)
    assert t.validity(B.hash) is False
    assert t.awaited_validity() == []
