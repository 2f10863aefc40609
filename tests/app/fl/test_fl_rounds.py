"""Synchronisation barriers inside FLApp: BSP, SSP, BAP, ASP and the adaptive period,
driven with hand-built blocks at chosen block times (toy model, no ML)."""

from __future__ import annotations

import numpy as np
import pytest

from flobc.sim.fl_fixtures import AppDriver, f32

F64 = np.float64
P = 10_000  # the sync period in these tests (ms)


def _alone(d: AppDriver, delta: np.ndarray) -> bytes:
    """The weights after aggregating ``delta`` alone (weight 1) onto version 0."""
    return (d.initial.astype(F64) + delta.astype(F64)).astype(np.float32).tobytes()


def _round_start(d: AppDriver) -> int:
    assert d.state.round is not None
    return d.state.round.started_at_ms


# ---------------------------------------------------------------------- BSP


def test_bsp_update_after_the_deadline_is_not_aggregated() -> None:
    d = AppDriver(trainers=3, sync={"period_ms": P})
    on_time = d.submit_and_decide(0, [0.1] * 8, 0.1)
    undecided, _ = d.update(1, [0.2] * 8)
    d.block([undecided], at_ms=d.deadline_ms - 1)  # in time, but no votes by the deadline
    assert d.state.version.version == 0
    late, _ = d.update(2, [0.3] * 8)  # trained on version 0, lands after the deadline
    deadline = d.deadline_ms
    res = d.block([late], at_ms=deadline)
    assert res.tx_results[0].code == 409
    assert "stale base version 0" in res.tx_results[0].message
    v1 = d.state.versions[1]
    assert (v1.reason, v1.time_ms, v1.updates) == ("deadline", deadline, [on_time.hash.hex()])
    assert d.state.updates[undecided.hash.hex()].status == "stale"
    assert late.hash.hex() not in d.state.updates
    assert d.weights(1).tobytes() == _alone(d, f32([0.1] * 8))


def test_bsp_releases_at_the_deadline_not_before() -> None:
    d = AppDriver(trainers=2, sync={"period_ms": P})
    d.submit_and_decide(0, [0.1] * 8, 0.1)
    d.submit_and_decide(1, [0.1] * 8, 0.1)  # everyone decided, but no wait_for_all
    deadline = d.deadline_ms
    d.block(at_ms=deadline - 1)
    assert d.state.version.version == 0
    d.block(at_ms=deadline)
    assert (d.state.version.reason, d.state.version.time_ms) == ("deadline", deadline)
    assert _round_start(d) == deadline


def test_bsp_wait_for_all_releases_when_everyone_is_decided() -> None:
    d = AppDriver(trainers=2, sync={"period_ms": P, "wait_for_all": True})
    d.submit_and_decide(0, [0.1] * 8, 0.1)
    assert d.state.version.version == 0
    d.submit_and_decide(1, [0.1] * 8, -0.1)  # a rejected update is decided too
    v1 = d.state.version
    assert (v1.version, v1.reason, v1.accepted, v1.rejected) == (1, "all_decided", 1, 1)
    assert v1.time_ms < d.state.versions[0].time_ms + P


def test_bsp_allows_one_update_per_trainer_and_round() -> None:
    d = AppDriver(trainers=2, sync={"period_ms": P})
    d.submit_and_decide(0, [0.1] * 8, 0.1)
    again, _ = d.update(0, [0.2] * 8)
    assert d.app.check_tx(again).code == 409
    assert d.block([again]).tx_results[0].code == 409


# ---------------------------------------------------------------------- SSP


def _ssp(trainers: int = 4, **sync: object) -> AppDriver:
    return AppDriver(
        trainers=trainers,
        sync={"scheme": "ssp", "period_ms": P, "ssp_max_extra_steps": 5, **sync},
    )


def test_ssp_extends_once_by_slack_times_period() -> None:
    d = _ssp()
    for i in range(3):  # trainer 3 has not finished by the deadline: slack 1/4
        d.submit_and_decide(i, [0.1] * 8, 0.1)
    deadline = d.deadline_ms
    d.block(at_ms=deadline)
    r = d.state.round
    assert r is not None and d.state.version.version == 0
    assert (r.extension_until_ms, r.slack_ratio) == (deadline + P // 4, 0.25)
    d.block(at_ms=deadline + P // 4 - 1)
    assert d.state.round.extension_until_ms == deadline + P // 4  # type: ignore[union-attr]
    assert d.state.version.version == 0
    d.block(at_ms=deadline + P // 4)
    v1 = d.state.version
    assert (v1.version, v1.reason, v1.time_ms) == (1, "extension_end", deadline + P // 4)
    assert d.state.round.extension_until_ms is None  # type: ignore[union-attr]


def test_ssp_slack_of_half_extends_by_half_the_period() -> None:
    d = _ssp()
    d.submit_and_decide(0, [0.1] * 8, 0.1)
    pending, _ = d.update(1, [0.1] * 8)
    d.block([pending])  # submitted (not missing), though undecided
    deadline = d.deadline_ms
    d.block(at_ms=deadline + 123)  # first block after the deadline
    assert d.state.round.extension_until_ms == deadline + P // 2  # type: ignore[union-attr]


def test_ssp_with_zero_slack_does_not_extend() -> None:
    d = _ssp(trainers=2)
    d.submit_and_decide(0, [0.1] * 8, 0.1)
    pending, _ = d.update(1, [0.1] * 8)
    d.block([pending])  # everyone submitted, one still undecided at the deadline
    deadline = d.deadline_ms
    d.block(at_ms=deadline)
    assert (d.state.version.version, d.state.version.reason) == (1, "deadline")
    assert d.state.updates[pending.hash.hex()].status == "stale"


def test_ssp_releases_early_when_everyone_is_decided() -> None:
    d = _ssp(trainers=2)
    d.submit_and_decide(0, [0.1] * 8, 0.1)
    d.submit_and_decide(1, [0.1] * 8, 0.1)
    assert d.state.version.reason == "all_decided"


def test_ssp_extension_admits_one_short_resubmission_of_trainers_done_in_time() -> None:
    d = _ssp()
    first = d.submit_and_decide(0, [0.1] * 8, 0.1)
    d.submit_and_decide(1, [0.1] * 8, 0.1)
    early, _ = d.update(0, [0.15] * 8, local_steps=5)
    check = d.app.check_tx(early)
    assert check.code == 409 and "only during the extension" in check.message
    d.block(at_ms=d.deadline_ms)  # slack 2/4: extension
    assert d.state.round.extension_until_ms is not None  # type: ignore[union-attr]
    too_long, _ = d.update(0, [0.2] * 8, local_steps=6)
    res = d.block([too_long]).tx_results[0]
    assert res.code == 409 and "at most 5 local steps" in res.message
    extra, _ = d.update(0, [0.2] * 8, local_steps=5)
    assert d.block([extra]).tx_results[0].code == 0
    third, _ = d.update(0, [0.25] * 8, local_steps=1)
    assert d.block([third]).tx_results[0].code == 409
    slow, _ = d.update(2, [0.3] * 8, local_steps=500)  # first update of a slow trainer
    assert d.block([slow]).tx_results[0].code == 0
    slow_again, _ = d.update(2, [0.3] * 8, local_steps=1)
    assert d.block([slow_again]).tx_results[0].code == 409
    d.decide(extra, [0.2] * 3)
    until = d.state.round.extension_until_ms  # type: ignore[union-attr]
    d.block(at_ms=until)
    v1 = d.state.version
    assert v1.reason == "extension_end"
    assert extra.hash.hex() in v1.updates and first.hash.hex() not in v1.updates
    assert d.state.updates[first.hash.hex()].status == "superseded"
    assert d.state.updates[slow.hash.hex()].status == "stale"


def test_ssp_rejected_resubmission_keeps_the_earlier_accepted_update() -> None:
    d = _ssp(trainers=2)
    delta = f32([0.1] * 8)
    first = d.submit_and_decide(0, delta, 0.1)
    d.block(at_ms=d.deadline_ms)  # trainer 1 missing: extension
    extra, _ = d.update(0, [5.0] * 8, local_steps=5)
    d.block([extra])
    d.decide(extra, [-0.3] * 3)
    d.block(at_ms=d.state.round.extension_until_ms)  # type: ignore[union-attr]
    v1 = d.state.version
    assert v1.updates == [first.hash.hex()]
    assert d.weights(1).tobytes() == _alone(d, delta)


# ---------------------------------------------------------------------- BAP


def _bap(trainers: int, ratio: float, **sync: object) -> AppDriver:
    return AppDriver(
        trainers=trainers,
        sync={"scheme": "bap", "period_ms": P, "majority_ratio": ratio, **sync},
    )


@pytest.mark.parametrize(
    ("trainers", "ratio", "needed"),
    [(5, 1.0, 5), (5, 0.6, 3), (6, 0.6, 4)],  # 60 % of 6 is 3.6: four trainers
)
def test_bap_releases_exactly_when_the_labour_ratio_is_reached(
    trainers: int, ratio: float, needed: int
) -> None:
    d = _bap(trainers, ratio)
    for i in range(needed - 1):
        d.submit_and_decide(i, [0.1] * 8, 0.1 if i else -0.1)  # a rejection is labour too
        assert d.state.version.version == 0
    d.block(at_ms=d.time_ms + 5 * P)  # no deadline in BAP (only the cap, 10 P)
    assert d.state.version.version == 0
    d.submit_and_decide(needed - 1, [0.1] * 8, 0.1)
    v1 = d.state.version
    assert (v1.version, v1.reason) == (1, "ratio_reached")
    assert (v1.accepted, v1.rejected) == (needed - 1, 1)


def test_bap_cumulative_update_replaces_the_earlier_one_without_dropping_its_votes() -> None:
    d = _bap(2, 1.0)
    u1, _ = d.update(0, [0.1] * 8)
    d.block([u1])
    u2, _ = d.update(0, [0.3] * 8)  # shared again before u1 was decided
    d.block([u2])
    assert d.state.updates[u1.hash.hex()].status == "pending"
    d.decide(u1, [0.1] * 3)  # u1's votes still count: trainer 0 has done labour
    assert d.state.round.decided == [d.tid(0)]  # type: ignore[union-attr]
    d.decide(u2, [0.2] * 3)
    d.submit_and_decide(1, [0.0] * 8, -0.1)
    v1 = d.state.version
    assert v1.reason == "ratio_reached"
    assert v1.updates == [u2.hash.hex()]
    assert d.state.updates[u1.hash.hex()].status == "superseded"
    assert d.weights(1).tobytes() == _alone(d, f32([0.3] * 8))


def test_bap_undecided_latest_share_does_not_discard_an_accepted_one() -> None:
    d = _bap(2, 1.0)
    u1 = d.submit_and_decide(0, [0.1] * 8, 0.1)
    u2, _ = d.update(0, [0.3] * 8)
    d.block([u2])
    d.submit_and_decide(1, [0.0] * 8, -0.1)  # releases while u2 is still being voted on
    assert d.state.version.updates == [u1.hash.hex()]
    assert d.state.updates[u2.hash.hex()].status == "stale"
    assert d.weights(1).tobytes() == _alone(d, f32([0.1] * 8))


def test_bap_dead_trainer_cannot_stall_past_the_maximum_round_duration() -> None:
    d = _bap(3, 1.0, max_round_ms=3 * P)
    start = _round_start(d)
    d.submit_and_decide(0, [0.1] * 8, 0.1)
    d.submit_and_decide(1, [0.1] * 8, 0.1)  # trainer 2 is dead
    d.block(at_ms=start + 3 * P - 1)
    assert d.state.version.version == 0
    d.block(at_ms=start + 3 * P)
    v1 = d.state.version
    assert (v1.reason, v1.time_ms, len(v1.updates)) == ("max_duration", start + 3 * P, 2)


# ---------------------------------------------------------------------- ASP


def test_asp_skips_insignificant_updates_and_counts_them() -> None:
    d = AppDriver(trainers=3, sync={"scheme": "asp", "period_ms": P, "asp_threshold": 0.1})
    small, _ = d.update(0, d.initial * 0.05)  # ||Δ|| / ||w|| = 0.05 < 0.1
    big, _ = d.update(1, d.initial * 0.2)
    d.block([small, big])
    s, b = d.state.updates[small.hash.hex()], d.state.updates[big.hash.hex()]
    assert (s.status, b.status) == ("skipped", "pending")
    assert s.relative_norm == pytest.approx(0.05, rel=1e-6)
    assert d.state.round.skipped == 1  # type: ignore[union-attr]
    vote = d.block([d.vote(0, small, 0.1)]).tx_results[0]
    assert vote.code == 409 and "skipped" in vote.message
    again, _ = d.update(0, d.initial * 0.5)
    assert d.block([again]).tx_results[0].code == 409  # one (skipped) update per round
    d.decide(big, [0.1] * 3)
    d.block(at_ms=d.deadline_ms)
    v1 = d.state.version
    assert (v1.reason, v1.skipped, v1.updates) == ("deadline", 1, [big.hash.hex()])
    assert d.state.skipped_total == 1
    d.block([d.update(0, d.initial * 0.01)[0]])
    assert d.state.skipped_total == 2


def test_asp_with_wait_for_all_counts_a_skipped_trainer_as_done() -> None:
    d = AppDriver(
        trainers=2,
        sync={"scheme": "asp", "period_ms": P, "asp_threshold": 0.1, "wait_for_all": True},
    )
    d.block([d.update(0, d.initial * 0.01)[0]])
    d.submit_and_decide(1, d.initial * 0.3, 0.1)
    assert (d.state.version.reason, d.state.version.skipped) == ("all_decided", 1)


# ---------------------------------------------------------------------- adaptive period


def _adaptive(**sync: object) -> AppDriver:
    return AppDriver(
        trainers=3,
        sync={
            "period_ms": P,
            "adaptive": True,
            "adaptive_percentile": 90.0,
            "adaptive_window": 2,
            "adaptive_min_ms": 1_000,
            "adaptive_max_ms": 20_000,
            **sync,
        },
    )


def _submit_at(d: AppDriver, delays: list[int]) -> None:
    start = _round_start(d)
    for i, delay in enumerate(delays):
        d.block([d.update(i, [0.01] * 8)[0]], at_ms=start + delay)
    d.block(at_ms=d.deadline_ms)


def test_adaptive_period_follows_completion_times_and_stays_in_bounds() -> None:
    d = _adaptive()
    _submit_at(d, [2_000, 3_000, 4_000])
    assert d.state.round.period_ms == 4_800  # type: ignore[union-attr]  # ⌈1.2 · P90⌉
    _submit_at(d, [100, 200, 300])  # window: both rounds, P90 is still 4 000
    assert d.state.round.period_ms == 4_800  # type: ignore[union-attr]
    _submit_at(d, [100, 200, 300])  # the slow round left the window: 360 → min bound
    assert d.state.round.period_ms == 1_000  # type: ignore[union-attr]
    _submit_at(d, [])  # no data in the latest round: the window still has the last one
    assert d.state.round.period_ms == 1_000  # type: ignore[union-attr]


def test_adaptive_period_is_capped_by_its_maximum() -> None:
    d = _adaptive(adaptive_max_ms=3_000)
    _submit_at(d, [2_000, 3_000, 4_000])
    assert d.state.round.period_ms == 3_000  # type: ignore[union-attr]
    deadline = d.deadline_ms
    assert deadline == _round_start(d) + 3_000


def test_fixed_period_ignores_completion_times() -> None:
    d = AppDriver(trainers=3, sync={"period_ms": P})
    _submit_at(d, [2_000, 3_000, 4_000])
    assert d.state.round.period_ms == P  # type: ignore[union-attr]


def test_adaptive_period_counts_a_trainers_first_submission_of_the_round() -> None:
    """An SSP resubmission during the extension is not the trainer's completion time."""
    d = _adaptive(scheme="ssp", ssp_max_extra_steps=5)
    start = _round_start(d)
    d.block([d.update(0, [0.01] * 8)[0]], at_ms=start + 2_000)
    d.block([d.update(1, [0.01] * 8)[0]], at_ms=start + 3_000)
    d.block(at_ms=d.deadline_ms)  # trainer 2 missing: extension
    assert d.state.round.extension_until_ms is not None  # type: ignore[union-attr]
    extra, _ = d.update(0, [0.02] * 8, local_steps=5)
    assert d.block([extra]).tx_results[0].code == 0
    d.block(at_ms=d.state.round.extension_until_ms)  # type: ignore[union-attr]
    assert d.state.version.reason == "extension_end"
    assert d.state.recent_delays == [[2_000, 3_000]]
    assert d.state.round.period_ms == 3_600  # type: ignore[union-attr]


def test_the_round_view_is_reused_only_while_it_is_true() -> None:
    """``rounds.view`` builds a state's view once per time and reuses it; its tables are
    live, and a new time, a changed round field or a replaced table builds a new one."""
    from flobc.app.fl import rounds

    d = AppDriver(trainers=3, sync={"period_ms": P})
    st = d.app.live.copy()
    now = st.time_ms + 1
    v = rounds.view(st, now)
    assert rounds.view(st, now) is v and not v.submitted
    assert st.round is not None
    st.round.submitted["t"] = "u"  # what record_update does: the live view sees it
    assert rounds.view(st, now) is v and "t" in v.submitted
    assert rounds.view(st, now + 1) is not v
    v2 = rounds.view(st, now + 1)
    st.round.extension_until_ms = now + 5
    v3 = rounds.view(st, now + 1)
    assert v3 is not v2 and v3.extension_until_ms == now + 5
    st.round.decided = ["t"]  # a replaced table
    v4 = rounds.view(st, now + 1)
    assert v4 is not v3 and "t" in v4.decided
