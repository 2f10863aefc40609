"""The synchronisation schemes in the whole-system simulator, with heterogeneous trainer
pace (``training.speed``): who makes the deadline, SSP extensions and resubmissions, BAP
cumulative shares and labour ratio, ASP skips, the adaptive period, release reasons."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pytest

from flobc.algorithms.adaptive_period import next_period
from flobc.algorithms.sync import TrainerView, Work, next_work
from flobc.app.fl.state import FLState, UpdateInfo
from flobc.sim.fl_fixtures import tiny_config
from flobc.sim.fl_network import SimFLNetwork, SimTiming

P = 5_000  # tiny_config's period (ms)
BLOCK_SLACK = 400  # a barrier falls at the first block at or after its time


def _run(versions: int, timing: SimTiming | None = None, **overrides: Any) -> SimFLNetwork:
    net = SimFLNetwork(tiny_config(**overrides), timing=timing)
    assert net.run_until_version(versions, 120_000)
    return net


def _state(net: SimFLNetwork) -> FLState:
    return net.ledger.node(0).app.state  # type: ignore[attr-defined]


def _by_round(st: FLState) -> dict[int, dict[str, list[UpdateInfo]]]:
    """round -> trainer -> its updates in that round, by nonce."""
    out: dict[int, dict[str, list[UpdateInfo]]] = defaultdict(lambda: defaultdict(list))
    for u in sorted(st.updates.values(), key=lambda u: u.nonce):
        out[u.round][u.trainer].append(u)
    return out


def _tid(net: SimFLNetwork, i: int) -> str:
    return net.trainers[i].key.node_id


def _aggregated_trainers(st: FLState, version: int) -> set[str]:
    return {st.updates[u].trainer for u in st.versions[version].updates}


def test_bsp_slow_trainer_misses_every_deadline() -> None:
    net = _run(2, **{"training.speed": [1, 1, 1, 3]})
    st, rounds = _state(net), _by_round(_state(net))
    slow = _tid(net, 3)
    for v in (1, 2):
        version, prev = st.versions[v], st.versions[v - 1]
        assert version.reason == "deadline"
        assert P <= version.time_ms - prev.time_ms < P + BLOCK_SLACK
        assert set(rounds[v]) == {_tid(net, i) for i in range(3)}  # the slow one never lands
        assert slow not in _aggregated_trainers(st, v)
    check = net.trainers[3].last_check
    assert check is not None and check.code == 409 and "stale base version" in check.message
    # it did work, it just finished after the deadline of the version it trained on
    (t, base), *_ = net.trainers[3].record.submissions
    assert t - net.clock_offset_ms > P and base == 0


def test_ssp_extends_once_and_fast_trainers_resubmit_once() -> None:
    net = _run(2, **{"sync.scheme": "ssp", "training.speed": [1, 1, 1, 4]})
    st, rounds = _state(net), _by_round(_state(net))
    extension = P // 4  # one of four trainers missing at the deadline
    for v in (1, 2):
        version, prev = st.versions[v], st.versions[v - 1]
        assert version.reason == "extension_end"
        start = prev.time_ms
        assert P + extension <= version.time_ms - start < P + extension + BLOCK_SLACK
        for i in range(3):
            ups = rounds[v][_tid(net, i)]
            assert len(ups) == 2  # once by the deadline, once during the extension
            assert ups[0].time_ms < start + P <= ups[1].time_ms < start + P + extension
            latest_accepted = [u for u in ups if u.id in version.updates]
            assert len(latest_accepted) <= 1
        assert _tid(net, 3) not in rounds[v]
    for i, expected in ((0, 2), (3, 1)):  # the slow one never trains extra
        per_version: dict[int, int] = defaultdict(int)
        for _, base in net.trainers[i].record.submissions:
            per_version[base] += 1
        assert set(per_version.values()) == {expected}, (i, per_version)


def test_ssp_trainer_landing_in_the_extension_does_not_train_extra() -> None:
    net = _run(2, **{"sync.scheme": "ssp", "training.speed": [1, 1, 1, 2.8]})
    st, rounds = _state(net), _by_round(_state(net))
    slow = _tid(net, 3)
    for v in (1, 2):
        start = st.versions[v - 1].time_ms
        (late,) = rounds[v][slow]  # made it inside the extension, and only once
        assert start + P <= late.time_ms < start + P + P // 4
        assert all(len(rounds[v][_tid(net, i)]) == 2 for i in range(3))
        assert st.versions[v].reason in ("all_decided", "extension_end")
    assert [base for _, base in net.trainers[3].record.submissions] == [0, 1]


def test_trainer_policy_per_scheme() -> None:
    def work(scheme: str, **kw: Any) -> Work:
        view = dict(latest_version=3, trained_version=3, submitted=True, extra_done=False)
        view.update(kw)
        return next_work(
            TrainerView(scheme, round_extended=True, **view),  # type: ignore[arg-type]
            ssp_extra_steps=5,
            share_every_steps=7,
        )

    assert work("bsp", latest_version=4) == Work("train_new")
    assert work("bsp") == Work("wait")
    assert work("asp") == Work("wait")
    assert work("bap") == Work("train_more", 7)
    assert work("bap", submitted=False) == Work("wait")  # still training its first share
    assert work("ssp") == Work("train_more", 5)
    assert work("ssp", extra_done=True) == Work("wait")
    assert work("ssp", submitted_in_extension=True) == Work("wait")


@pytest.mark.parametrize(
    ("ratio", "reason"),
    [(1.0, "max_duration"), (0.6, "ratio_reached")],
)
def test_bap_cumulative_shares_and_the_labour_ratio(ratio: float, reason: str) -> None:
    net = _run(
        1,
        SimTiming(poll_ms=500),
        **{
            "sync.scheme": "bap",
            "sync.majority_ratio": ratio,
            "sync.max_round_s": 6,
            "sync.share_every_steps": 10,
            "training.speed": [1, 1, 1, 1000],  # trainer 3 never finishes: a dead trainer
        },
    )
    st = _state(net)
    v1 = st.versions[1]
    assert v1.reason == reason
    if reason == "max_duration":
        assert 6_000 <= v1.time_ms - st.versions[0].time_ms < 6_000 + BLOCK_SLACK
    else:
        assert v1.time_ms - st.versions[0].time_ms < 6_000
    round1 = _by_round(st)[1]
    decided = [t for t, ups in round1.items() if any(u.improvement is not None for u in ups)]
    assert len(decided) >= math.ceil(ratio * 4) - (reason == "max_duration")
    assert _tid(net, 3) not in round1
    assert not net.trainers[3].record.submissions
    shares = [len(round1[_tid(net, i)]) for i in range(3)]
    assert min(shares) >= 2  # trainers kept sharing cumulative updates on the same base
    for i in range(3):
        ups = round1[_tid(net, i)]
        accepted = [u for u in ups if u.status in ("accepted", "superseded")]
        chosen = [u for u in ups if u.id in v1.updates]
        assert len(chosen) <= 1
        if accepted:  # the latest accepted share replaces the earlier ones
            assert chosen == [max(accepted, key=lambda u: u.nonce)]


def test_asp_skips_insignificant_updates() -> None:
    # Experiment 2's noise makes updates of higher-index trainers larger: with k = 0.01,
    # trainers 0 and 1 stay under 30 % of the model norm, trainers 2 and 3 are above it.
    net = _run(2, **{"sync.scheme": "asp", "sync.asp_threshold": 0.3, "training.noise_k": 0.01})
    st, rounds = _state(net), _by_round(_state(net))
    for v in (1, 2):
        assert st.versions[v].reason == "deadline"
        assert st.versions[v].skipped == 2
        for i in range(4):
            (u,) = rounds[v][_tid(net, i)]
            assert (u.status == "skipped") is (i < 2), (i, u.relative_norm)
            assert (u.relative_norm < 0.3) is (i < 2)
            assert u.votes == {} or i >= 2  # skipped updates are not voted on
        assert not {_tid(net, 0), _tid(net, 1)} & _aggregated_trainers(st, v)
    assert st.skipped_total == 4


def test_adaptive_period_follows_submission_times() -> None:
    net = _run(
        3,
        **{
            "sync.period_s": 20,
            "sync.adaptive": True,
            "sync.adaptive_min_s": 1,
            "sync.adaptive_max_s": 30,
            "training.speed": [1, 1, 1, 1.5],
        },
    )
    st = _state(net)
    v = st.versions
    assert 20_000 <= v[1].time_ms - v[0].time_ms < 20_000 + BLOCK_SLACK  # the base period
    first = sorted(u.time_ms - v[0].time_ms for u in st.updates.values() if u.round == 1)
    adapted = next_period(first, percentile=90.0, min_ms=1_000, max_ms=30_000, current_ms=20_000)
    assert first[-1] < adapted < 2 * first[-1]  # 1.2 x the slowest of four
    assert adapted <= v[2].time_ms - v[1].time_ms < adapted + BLOCK_SLACK
    assert all(d.reason == "deadline" for d in v[1:])
    r = st.round
    assert r is not None and 1_000 <= r.period_ms <= 30_000
    flat = [d for delays in st.recent_delays for d in delays]
    assert r.period_ms == next_period(
        flat, percentile=90.0, min_ms=1_000, max_ms=30_000, current_ms=adapted
    )
