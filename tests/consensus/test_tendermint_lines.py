"""`consensus/tendermint.py` driven one transition at a time, one or more rows per line
of Algorithm 1 in "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic 2018).

Each row names its line and gives: the inputs that bring a fresh machine (validator
``me`` of four equal-power validators, at height 1) to the state *before*, that state, the
one input under test, the exact outputs expected, and the state *after*. Votes and
proposals are fed as ``trusted`` (signature checks are not what these rows test), and the
machine's own signed votes are not fed back, so every tally below counts peers only.
Proposer of (1, r) is validator ``(1 + r) % 4``: 1, 2, 3, 0 for rounds 0..3.
"""

from __future__ import annotations

import pytest
from tendermint_rows import (
    CHAIN,
    COMMIT,
    NOW,
    PARAMS,
    PRECOMMIT,
    PREV_TIME,
    PREVOTE,
    PROPOSE,
    START,
    VSET,
    A,
    B,
    H,
    Row,
    Start,
    State,
    my_precommit,
    my_prevote,
    precommit,
    prevote,
    proposal,
    schedule,
    timeout,
    validate,
    verdict,
    view,
)

from flobc.chain.types import Commit, CommitSig, Proposal
from flobc.consensus.messages import (
    Decide,
    Misbehaviour,
    ProposalReady,
    ProposalReceived,
    RequestProposal,
    SignProposal,
    ValidateProposal,
)
from flobc.consensus.tendermint import Tendermint

# Reusable prefixes (validator 0's point of view unless a row says otherwise).
PROPOSED_B = [proposal(0, B)]
PREVOTED_B = [*PROPOSED_B, verdict(0, B)]
LOCKED_A = [proposal(0, A), verdict(0, A), prevote(1, 0, A), prevote(2, 0, A), prevote(3, 0, A)]
#: f+1 = 2 peers already in round 1 (validators 1 and 3 precommit nil there; they can
#: still prevote, and the proposer of round 1, validator 2, has sent nothing yet).
TO_ROUND_1 = [precommit(1, 1, None), precommit(3, 1, None)]
PREVOTED_NIL = [timeout(PROPOSE, 0)]

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
    t = Tendermint(CHAIN, VSET, row.me, PARAMS)
    if row.before is None:
        assert not row.prefix
        assert isinstance(row.given, Start)
        out = t.start_height(H, PREV_TIME, NOW)
    else:
        t.start_height(H, PREV_TIME, NOW)
        for ev in row.prefix:
            t.handle(ev, NOW)
        assert view(t) == row.before, "the prefix did not reach the state before"
        assert not isinstance(row.given, Start)
        out = t.handle(row.given, NOW)
    assert out == row.expect
    assert view(t) == row.after


def test_every_line_of_algorithm_1_has_a_row() -> None:
    lines = {"L11", "L22", "L28", "L34", "L36", "L44", "L47", "L49", "L55", "L57", "L61", "L65"}
    assert lines <= {r.line.split("_")[0] for r in ROWS}


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
