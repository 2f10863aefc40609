"""Vote transactions carrying a batch of ballots: a malformed ballot fails the whole
transaction, a ballot the ledger can no longer take is skipped and the rest applied in
order, and a batch leaves the ledger exactly as one ballot per transaction does."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from flobc.app.fl.ledger_state import state_hash
from flobc.app.fl.txs import MAX_BALLOTS, VoteBody, vote_tx
from flobc.chain.types import SignedTx
from flobc.sim.fl_fixtures import AppDriver


def _world(updates: int = 3) -> tuple[AppDriver, list[SignedTx]]:
    d = AppDriver(validators=4, trainers=updates)
    txs = [d.update(i, [0.01 * (i + 1)] * 8)[0] for i in range(updates)]
    assert all(r.code == 0 for r in d.block(txs).tx_results)
    return d, txs


def _voters(d: AppDriver, tx: SignedTx) -> list[str]:
    return sorted(d.state.updates[tx.hash.hex()].votes)


def test_one_tx_records_a_ballot_on_every_update() -> None:
    d, (a, b, c) = _world()
    res = d.block([d.ballots(0, [(a, 0.1), (b, 0.2), (c, -0.1)])]).tx_results[0]
    assert (res.code, res.message) == (0, "")
    for u, imp in ((a, 0.1), (b, 0.2), (c, -0.1)):
        assert d.state.updates[u.hash.hex()].votes["0"]["score"] == pytest.approx(0.5 + imp)


def test_a_batch_is_the_same_ledger_as_one_ballot_per_tx() -> None:
    gains = [0.1, -0.2, 0.05]
    batched, ups = _world()
    batched.block([batched.ballots(j, list(zip(ups, gains, strict=True))) for j in range(3)])
    single, ups2 = _world()
    single.block([single.vote(j, u, g) for u, g in zip(ups2, gains, strict=True) for j in range(3)])
    assert [batched.state.updates[u.hash.hex()].status for u in ups] == [
        "accepted",
        "rejected",
        "accepted",
    ]
    assert state_hash(batched.app.live) == state_hash(single.app.live)


def test_an_update_named_twice_fails_the_whole_tx() -> None:
    d, (a, b, _) = _world()
    tx = d.ballots(0, [(a, 0.1), (b, 0.1), (a, 0.2)])
    assert d.app.check_tx(tx).code == 400
    res = d.block([tx]).tx_results[0]
    assert res.code == 400 and "voted on twice" in res.message
    assert _voters(d, a) == [] and _voters(d, b) == []


def test_a_malformed_ballot_carries_no_other_ballot_in() -> None:
    d, (a, b, c) = _world()
    key = d.vkeys[0]
    bodies = [VoteBody(a.hash, 0.6, 0.5), VoteBody(b.hash, np.nan, 0.5), VoteBody(c.hash, 0.6, 0.5)]
    tx = vote_tx(d.chain_id, key, bodies, 1)
    check = d.app.check_tx(tx)
    assert check.code == 400 and check.message.startswith("ballot 1: scores must be finite")
    assert d.block([tx]).tx_results[0].code == 400
    assert all(_voters(d, u) == [] for u in (a, b, c))


def test_ballots_for_unknown_updates_are_skipped_and_the_rest_applied() -> None:
    d, (a, b, _) = _world()
    ghost = b"\x01" * 32
    tx = d.ballots(1, [(ghost, 0.1), (a, 0.1), (b, 0.1)])
    assert d.app.check_tx(tx).ok
    res = d.block([tx]).tx_results[0]
    assert res.code == 0
    assert res.message.startswith("1 of 3 ballots skipped (first: 010101010101: unknown update")
    assert _voters(d, a) == ["1"] and _voters(d, b) == ["1"]
    only_ghost = d.ballots(1, [(ghost, 0.1)])
    assert d.app.check_tx(only_ghost).code == 404
    assert d.block([only_ghost]).tx_results[0].code == 404


def test_already_voted_and_decided_updates_are_skipped() -> None:
    d, (a, b, c) = _world()
    d.block([d.ballots(0, [(a, 0.1)])])
    d.block([d.vote(j, b, 0.1) for j in (1, 2, 3)])  # b decided without validator 0
    assert d.state.updates[b.hash.hex()].status == "accepted"
    tx = d.ballots(0, [(a, 0.3), (b, 0.1), (c, 0.1)])
    res = d.block([tx]).tx_results[0]
    assert res.code == 0 and res.message.startswith("2 of 3 ballots skipped")
    assert d.state.updates[a.hash.hex()].votes["0"]["score"] == pytest.approx(0.6)  # the first
    assert _voters(d, c) == ["0"]
    # a replay of the whole transaction takes nothing: every ballot is already in
    replay = d.block([tx]).tx_results[0]
    assert replay.code == 409 and "already voted" in replay.message


def test_votes_come_from_validators_only() -> None:
    d, (a, b, _) = _world()
    body = [VoteBody(a.hash, 0.6, 0.5), VoteBody(b.hash, 0.6, 0.5)]
    by_trainer = vote_tx(d.chain_id, d.tkeys[0], body, 5)
    res = d.block([by_trainer]).tx_results[0]
    assert res.code == 403 and "only accepted from validators" in res.message
    assert _voters(d, a) == [] and _voters(d, b) == []


@pytest.mark.parametrize("n", [0, MAX_BALLOTS + 1])
def test_ballot_count_is_bounded(n: int) -> None:
    d, _ = _world()
    bodies = [VoteBody(bytes([k % 256, k // 256]) * 16, 0.6, 0.5) for k in range(n)]
    tx = vote_tx(d.chain_id, d.vkeys[0], bodies, 1)
    check = d.app.check_tx(tx)
    assert check.code == 400 and f"1..{MAX_BALLOTS} ballots" in check.message


def test_a_batch_completing_quorums_decides_in_ballot_order() -> None:
    d, (a, b, c) = _world()
    d.block([d.ballots(j, [(c, 0.1), (a, 0.1), (b, -0.1)]) for j in (0, 1)])
    d.block([d.ballots(2, [(c, 0.1), (a, 0.1), (b, -0.1)])])
    assert d.app.live.unscored == [c.hash.hex(), a.hash.hex(), b.hash.hex()]
    statuses = [d.state.updates[u.hash.hex()].status for u in (a, b, c)]
    assert statuses == ["accepted", "rejected", "accepted"]


def test_remembered_checks_never_vouch_for_a_different_transaction() -> None:
    d, (a, _, _) = _world()
    good = d.ballots(0, [(a, 0.1)])
    assert d.app.check_tx(good).ok  # its state-free checks are now remembered
    other = d.ballots(0, [(a, 0.4)])
    # the same signature on another body, and another nonce under the same signature
    forged = msgspec.structs.replace(other, signature=good.signature)
    renonced = msgspec.structs.replace(good, nonce=good.nonce + 1)
    for tx in (forged, renonced):
        check = d.app.check_tx(tx)
        assert check.code == 401 and check.message == "bad signature"
    assert d.app.check_tx(good).ok and d.app.check_tx(other).ok


@pytest.mark.parametrize(("powers", "deciding"), [((1, 1, 1, 1), 3), ((5, 1, 1, 1), 2)])
def test_a_quorum_is_of_voting_power(powers: tuple[int, ...], deciding: int) -> None:
    """Equal powers: a quorum is a count of votes (> 2/3 of 4 is 3); unequal ones are
    summed (5 + 1 of 8 is over 2/3)."""
    from flobc.app.fl.app import FLApp
    from flobc.chain.genesis import Genesis
    from flobc.chain.validators import Validator

    d = AppDriver(validators=4, trainers=1)
    d.genesis = Genesis(
        chain_id=d.genesis.chain_id,
        genesis_time_ms=d.genesis.genesis_time_ms,
        validators=[Validator(k.public_key, p) for k, p in zip(d.vkeys, powers, strict=True)],
        app_state=d.genesis.app_state,
    )
    d.app = FLApp(d.genesis, d.blobs)
    (up, _) = d.update(0, [0.01] * 8)
    assert d.block([up]).tx_results[0].code == 0
    for j in range(4):
        d.block([d.vote(j, up, 0.1)])
        status = d.state.updates[up.hash.hex()].status
        assert status == ("pending" if j + 1 < deciding else "accepted"), j
        if status == "accepted":
            break


def test_decisions_are_remembered_by_everything_the_rule_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flobc.algorithms.validation.base import RuleDecision
    from flobc.app.fl import votes as votes_module

    monkeypatch.setattr(votes_module, "_decisions", type(votes_module._decisions)())
    calls = []

    class Rule:
        def decide(self, votes, noise=None):  # type: ignore[no-untyped-def]
            calls.append(votes)
            return RuleDecision(True, votes[0]["score"])

    rule = Rule()
    a = [{"score": 0.0, "base_score": 0.5}, {"score": 0.25, "base_score": 0.5}]
    same = [dict(v) for v in a]
    signed = [{"score": -0.0, "base_score": 0.5}, a[1]]
    first = votes_module.decide(rule, ("r", ()), a, None)
    assert votes_module.decide(rule, ("r", ()), same, None) is first and len(calls) == 1
    # a zero's sign, other parameters, or declared noise: decided afresh
    assert str(votes_module.decide(rule, ("r", ()), signed, None).improvement) == "-0.0"
    votes_module.decide(rule, ("r", (("threshold", 0.1),)), a, None)
    votes_module.decide(rule, ("r", ()), a, "noise")
    assert len(calls) == 4


def test_apps_of_different_rules_in_one_process_decide_by_their_own() -> None:
    """Two ledgers in one process, same ballots, different thresholds: the remembered
    decisions of one never answer for the other."""
    outcomes = []
    for threshold in (0.0, 0.5):
        d = AppDriver(
            validators=4, trainers=1, validation="paper", validation_params={"threshold": threshold}
        )
        (up, _) = d.update(0, [0.01] * 8)
        assert d.block([up]).tx_results[0].code == 0
        d.block([d.vote(j, up, 0.1) for j in range(3)])
        outcomes.append(d.state.updates[up.hash.hex()].status)
    assert outcomes == ["accepted", "rejected"]
