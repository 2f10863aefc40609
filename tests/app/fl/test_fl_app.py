"""FLApp driven directly: votes and decisions, reputation, aggregation, snapshots,
registration and Byzantine blobs (toy model, hand-made deltas and votes, no ML)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flobc.algorithms.decision import decide
from flobc.algorithms.reputation import RewardPenalty, register_trainer
from flobc.app.fl.app import FLApp
from flobc.sim.fl_fixtures import AppDriver, f32
from flobc.sim.ledger import sim_keys

F64 = np.float64


def _deltas(n: int, size: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [f32(rng.normal(0.0, 0.1, size)) for _ in range(n)]


def _check_scores(scores: dict[str, float]) -> None:
    values = list(scores.values())
    assert all(not math.isnan(v) and 0.0 <= v <= 1.0 for v in values), scores
    assert math.fsum(values) == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------------- votes and decisions


@pytest.mark.parametrize("validators", [3, 4])
def test_a_decision_needs_more_than_two_thirds_of_the_validators(validators: int) -> None:
    d = AppDriver(validators=validators, trainers=2)
    tx, _ = d.update(0, [0.1] * 8)
    d.block([tx])
    before = d.state.scores()
    d.block([d.vote(0, tx, 0.2), d.vote(1, tx, 0.3)])  # 2 of 3 (or 4): no quorum yet
    upd = d.state.updates[tx.hash.hex()]
    assert upd.status == "pending" and upd.improvement is None
    assert d.state.scores() == before
    d.block([d.vote(2, tx, -0.4)])  # 3 of 3 / 3 of 4 > 2/3
    upd = d.state.updates[tx.hash.hex()]
    assert upd.status == "accepted"
    assert upd.improvement == pytest.approx(0.2)  # median of 0.2, 0.3, -0.4
    assert d.state.trainers[d.tid(0)].accepted == 1
    if validators == 4:  # a vote after the decision is refused
        late = d.block([d.vote(3, tx, 0.0)]).tx_results[0]
        assert late.code == 409 and "already accepted" in late.message


@pytest.mark.parametrize(
    ("threshold", "improvements", "accepted"),
    [
        (0.0, [-0.01, -0.02, 0.03], False),  # median -0.01 < 0
        (-0.05, [-0.01, -0.02, 0.03], True),  # Experiment 2: a lowered threshold
        (0.0, [0.0, 0.0, 0.0], True),  # accepted iff median >= threshold
        (0.0, [0.01, 0.02, -0.5], True),  # one bad vote cannot sink it
        (-0.05, [-0.06, -0.07, 0.5], False),  # ...nor rescue it
    ],
)
def test_acceptance_is_median_improvement_against_the_threshold(
    threshold: float, improvements: list[float], accepted: bool
) -> None:
    d = AppDriver(trainers=2, acceptance_threshold=threshold)
    tx, _ = d.update(0, [0.1] * 8)
    d.block([tx])
    d.decide(tx, improvements)
    upd = d.state.updates[tx.hash.hex()]
    expected = decide([(0.5 + i, 0.5) for i in improvements], threshold=threshold)
    assert upd.status == ("accepted" if accepted else "rejected")
    assert expected.accepted is accepted
    assert upd.improvement == expected.improvement
    trainer = d.state.trainers[d.tid(0)]
    assert (trainer.accepted, trainer.rejected) == ((1, 0) if accepted else (0, 1))


def test_reputation_moves_at_the_barrier_in_trainer_order() -> None:
    """Each round's decisions move trust at the release, applied in trainer registration
    order (not in the order votes landed), following the policy step by step."""
    d = AppDriver(trainers=4, acceptance_threshold=-0.5, reputation_params={"penalty": 3.0})
    policy = RewardPenalty(penalty=3.0)
    rounds = [[0.05, -0.02, 0.0, -0.3], [0.1, 0.01, -0.1, 0.2]]
    for improvements in rounds:
        before = d.state.scores()
        decided = {}
        for trainer in (2, 0, 3, 1):  # votes land in an arbitrary order
            tx = d.submit_and_decide(trainer, [0.01] * 8, improvements[trainer])
            decided[trainer] = d.state.updates[tx.hash.hex()]
        assert d.state.scores() == before  # nothing moves before the barrier
        d.block(at_ms=d.deadline_ms)
        expected = before
        for trainer in sorted(decided):  # registration order = trainer index here
            upd = decided[trainer]
            expected = policy.update(
                expected, d.tid(trainer), upd.improvement, upd.status == "accepted"
            )
        assert d.state.scores() == expected
        assert d.state.versions[-1].scores == expected
        _check_scores(d.state.scores())
    assert d.state.scores()[d.tid(3)] < d.state.scores()[d.tid(0)]
    assert len(set(d.state.scores().values())) > 1  # the plan did move the scores


def test_uniform_policy_keeps_equal_scores() -> None:
    d = AppDriver(trainers=3, reputation="uniform")
    d.submit_and_decide(0, [0.1] * 8, 0.3)
    d.submit_and_decide(1, [0.1] * 8, -0.3)
    assert set(d.state.scores().values()) == {1.0 / 3}


def test_a_zeroed_trainer_stays_finite_and_scores_still_sum_to_one() -> None:
    d = AppDriver(trainers=2, acceptance_threshold=-10.0)
    d.submit_and_decide(0, [0.1] * 8, -5.0)  # huge penalty: clamped step, score 0
    d.block(at_ms=d.deadline_ms)
    scores = d.state.scores()
    assert scores[d.tid(0)] == 0.0 and scores[d.tid(1)] == 1.0
    _check_scores(scores)


# ---------------------------------------------------------------------- aggregation


def _aggregation_run(size: int = 32) -> tuple[AppDriver, list, list[np.ndarray]]:
    d = AppDriver(trainers=4, size=size)
    deltas = _deltas(4, size)
    txs = [
        d.submit_and_decide(i, deltas[i], imp)
        for i, imp in enumerate([0.05, 0.01, 0.2, -0.1])  # trainer 3 is rejected
    ]
    d.block(at_ms=d.deadline_ms)
    return d, txs, deltas


def test_release_is_the_trust_weighted_average_of_accepted_updates() -> None:
    d, txs, deltas = _aggregation_run()
    v1 = d.state.versions[1]
    assert (v1.version, v1.reason, v1.accepted, v1.rejected) == (1, "deadline", 3, 1)
    order = [0, 1, 2]  # the app sums in trainer registration order
    assert v1.updates == [txs[i].hash.hex() for i in order]
    phi = {i: v1.scores[d.tid(i)] for i in range(3)}
    assert len(set(phi.values())) == 3  # distinct trust, so the weighting matters
    num = sum(phi[i] * deltas[i].astype(F64) for i in order)
    expected = (d.initial.astype(F64) + num / sum(phi[i] for i in order)).astype(np.float32)
    assert d.weights(1).tobytes() == expected.tobytes()
    plain = (d.initial.astype(F64) + sum(x.astype(F64) for x in deltas[:3]) / 3).astype(np.float32)
    assert not np.array_equal(d.weights(1), plain)


def test_release_is_byte_identical_on_two_app_instances() -> None:
    a, _, _ = _aggregation_run()
    b, _, _ = _aggregation_run()
    assert a.app is not b.app
    assert a.weights(1).tobytes() == b.weights(1).tobytes()
    assert a.app.info() == b.app.info()


def test_a_release_without_accepted_updates_keeps_the_weights() -> None:
    d = AppDriver(trainers=2)
    d.submit_and_decide(0, [0.5] * 8, -0.2)
    d.block(at_ms=d.deadline_ms)
    v0, v1 = d.state.versions
    assert (v1.version, v1.updates, v1.rejected, v1.reason) == (1, [], 1, "deadline")
    assert v1.weights == v0.weights
    assert d.state.round.base_version == 1  # type: ignore[union-attr]
    d.block(at_ms=d.deadline_ms)  # an empty round releases too
    assert d.state.version.version == 2 and d.state.version.weights == v0.weights


# ---------------------------------------------------------------------- snapshots


def test_snapshot_restore_round_trip() -> None:
    d, _, deltas = _aggregation_run()
    tx, _ = d.update(0, deltas[0])
    d.block([tx])
    restored = FLApp(d.genesis, d.blobs)
    restored.restore(d.height, d.snapshot)
    assert restored.info() == d.app.info()
    assert restored.state.hash() == d.state.hash()
    # both go on identically
    header = d.header(d.time_ms + 100)
    votes = d.votes(tx, [0.1, 0.1, 0.1])
    res = restored.finalize_block(header, votes)
    assert res.app_hash == d.block(votes, at_ms=header.time_ms).app_hash
    with pytest.raises(ValueError, match="height"):
        FLApp(d.genesis, d.blobs).restore(d.height + 1, d.snapshot)


# ---------------------------------------------------------------------- registration


def test_registration_is_refused_on_a_permissioned_network() -> None:
    d = AppDriver(trainers=2)
    twin = AppDriver(trainers=2)
    newcomer = sim_keys(1, 9, "newcomer")[0]
    tx = d.register(newcomer, "eve")
    check = d.app.check_tx(tx)
    assert check.code == 403 and "closed" in check.message
    res = d.block([tx]).tx_results[0]
    assert res.code == 403
    twin.block()
    assert d.app.info() == twin.app.info()


def test_open_registration_keeps_the_relative_scores_of_others() -> None:
    d = AppDriver(trainers=3, registered=2, open_registration=True)
    d.submit_and_decide(0, [0.1] * 8, 0.3)
    d.block(at_ms=d.deadline_ms)
    before = d.state.scores()
    newcomer = d.tkeys[2]
    tx = d.register(newcomer, "carol")
    assert d.app.check_tx(tx).ok
    assert d.block([tx]).tx_results[0].code == 0
    after = d.state.scores()
    assert after == register_trainer(before, d.tid(2))
    assert after[d.tid(2)] == pytest.approx(1 / 3)
    assert after[d.tid(0)] / after[d.tid(1)] == pytest.approx(before[d.tid(0)] / before[d.tid(1)])
    assert after[d.tid(0)] > after[d.tid(1)]  # history kept, not reset to 1/N
    _check_scores(after)
    assert d.state.trainers[d.tid(2)].name == "carol"
    again = d.block([d.register(newcomer)]).tx_results[0]
    assert again.code == 409
    upd, _ = d.update(2, [0.1] * 8)  # the newcomer can train
    assert d.block([upd]).tx_results[0].code == 0


# ---------------------------------------------------------------------- Byzantine blobs


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (f32([0.1] * 7 + [float("nan")]).tobytes(), "NaN"),
        (f32([0.1] * 7 + [float("inf")]).tobytes(), "infinite"),
        (f32([0.1] * 9).tobytes(), "9 values"),
        (f32([0.1] * 4).tobytes(), "4 values"),
    ],
    ids=["nan", "inf", "too-long", "too-short"],
)
def test_a_bad_blob_committed_by_a_byzantine_proposer_fails_at_execution(
    blob: bytes, message: str
) -> None:
    d, twin = AppDriver(trainers=2), AppDriver(trainers=2)
    for drv in (d, twin):
        drv.submit_and_decide(1, [0.1] * 8, 0.1)
    tx, _ = d.update(0, blob)  # stored as data availability would fetch it: unchecked
    results = []
    for _ in range(2):  # deterministic: the same verdict from a second, fresh execution
        header = d.header(d.time_ms + 100)
        results.append(d.app.finalize_block(header, [tx]).tx_results[0])
    assert results[0] == results[1]
    assert results[0].code == 422 and message in results[0].message
    d.block([tx])
    twin.block()
    assert d.app.info() == twin.app.info()  # nothing changed: no update, nonce untouched
    assert tx.hash.hex() not in d.state.updates
    assert d.state.trainers[d.tid(0)].nonce == -1


def test_the_proposal_executes_a_signers_updates_in_nonce_order() -> None:
    """The dry run validates by (signer, nonce); the block must keep that order."""
    d = AppDriver(trainers=2, sync={"scheme": "bap", "period_ms": 10_000})
    first, _ = d.update(0, [0.1] * 8)
    second, _ = d.update(0, [0.2] * 8)
    mempool = [second, first]  # gossip delivered the later one first
    header = d.header(d.time_ms + 100)
    keep = d.app.prepare_proposal(header, mempool)
    block = [mempool[i] for i in keep]
    assert len(block) == 2
    results = d.block(block, at_ms=header.time_ms).tx_results
    assert [r.code for r in results] == [0, 0]
    assert d.state.trainers[d.tid(0)].nonce == second.nonce
