"""Synchronisation barriers: BSP deadline, SSP single extension, BAP ratio, caps."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flobc.algorithms.sync import (
    Continue,
    Extend,
    Release,
    RoundView,
    SyncConfig,
    accepts_update,
    evaluate_round,
    extension_ms,
    labour_ratio,
    required_decided,
    slack_ratio,
)

P = 10_000
T0 = 1_000_000
TRAINERS = frozenset(f"t{i}" for i in range(6))


def view(
    now: int,
    *,
    submitted: Iterable[str] = (),
    decided: Iterable[str] = (),
    ext: int | None = None,
    active: frozenset[str] = TRAINERS,
) -> RoundView:
    return RoundView(
        round=3,
        base_version=3,
        started_at_ms=T0,
        now_ms=now,
        period_ms=P,
        active_trainers=active,
        submitted=frozenset(submitted),
        decided=frozenset(decided),
        extension_until_ms=ext,
    )


def first(n: int) -> list[str]:
    return [f"t{i}" for i in range(n)]


# --- BSP -------------------------------------------------------------------------------


def test_bsp_releases_exactly_at_deadline() -> None:
    cfg = SyncConfig("bsp", P)
    assert evaluate_round(cfg, view(T0 + P - 1, decided=first(6))) == Continue(T0 + P)
    assert evaluate_round(cfg, view(T0 + P)) == Release("deadline")


def test_bsp_wait_for_all_releases_when_everyone_decided() -> None:
    cfg = SyncConfig("bsp", P, wait_for_all=True)
    assert evaluate_round(cfg, view(T0 + 5, decided=first(5))) == Continue(T0 + P)
    assert evaluate_round(cfg, view(T0 + 5, decided=first(6))) == Release("all_decided")


def test_bsp_update_after_deadline_not_accepted() -> None:
    cfg = SyncConfig("bsp", P)
    v = view(T0 + P - 1)
    assert accepts_update(cfg, v, 3, 3, T0 + P - 1) == (True, "ok")
    assert accepts_update(cfg, v, 3, 3, T0 + P) == (False, "late")
    assert accepts_update(cfg, v, 2, 3, T0 + 1) == (False, "stale_base")


def test_empty_round_never_releases_as_all_decided() -> None:
    cfg = SyncConfig("bsp", P, wait_for_all=True)
    assert evaluate_round(cfg, view(T0, active=frozenset())) == Continue(T0 + P)


# --- SSP -------------------------------------------------------------------------------


def test_ssp_extends_once_by_slack_times_period() -> None:
    cfg = SyncConfig("ssp", P)
    v = view(T0 + P, submitted=first(4), decided=first(4))  # 2 of 6 missing
    assert slack_ratio(v) == pytest.approx(2 / 6)
    decision = evaluate_round(cfg, v)
    assert decision == Extend(until_ms=T0 + P + P * 2 // 6, slack_ratio=2 / 6)
    until = decision.until_ms
    # once granted it is never granted again: continue, then release at its end
    assert evaluate_round(cfg, view(T0 + P + 1, submitted=first(4), ext=until)) == Continue(until)
    assert evaluate_round(cfg, view(until, submitted=first(4), ext=until)) == Release(
        "extension_end"
    )


def test_ssp_no_extension_with_zero_slack() -> None:
    cfg = SyncConfig("ssp", P)
    v = view(T0 + P, submitted=first(6), decided=first(5))
    assert slack_ratio(v) == 0.0 and extension_ms(v) == 0
    assert evaluate_round(cfg, v) == Release("deadline")


def test_ssp_releases_early_when_all_decided() -> None:
    cfg = SyncConfig("ssp", P)
    assert evaluate_round(cfg, view(T0 + 1, submitted=first(6), decided=first(6))) == Release(
        "all_decided"
    )


def test_ssp_accepts_during_extension_with_step_limit() -> None:
    cfg = SyncConfig("ssp", P, ssp_max_extra_steps=2)
    until = T0 + P + 3000
    v = view(T0 + P + 100, submitted=first(4), ext=until)
    assert accepts_update(cfg, v, 3, 3, until - 1, trainer="t5", local_steps=50) == (True, "ok")
    assert accepts_update(cfg, v, 3, 3, until - 1, trainer="t0", local_steps=2) == (True, "ok")
    assert accepts_update(cfg, v, 3, 3, until - 1, trainer="t0", local_steps=3) == (
        False,
        "ssp_step_limit",
    )
    assert accepts_update(cfg, v, 3, 3, until) == (False, "late")
    no_ext = view(T0 + P, submitted=first(4))
    assert accepts_update(cfg, no_ext, 3, 3, T0 + P) == (False, "late")


# --- BAP -------------------------------------------------------------------------------


@pytest.mark.parametrize(("ratio", "n", "need"), [(0.6, 5, 3), (0.6, 6, 4), (1.0, 6, 6)])
def test_bap_releases_exactly_when_ratio_reached(ratio: float, n: int, need: int) -> None:
    active = frozenset(first(n))
    cfg = SyncConfig("bap", P, majority_ratio=ratio)
    assert required_decided(ratio, n) == need
    before = view(T0 + 1, decided=first(need - 1), active=active)
    at = view(T0 + 1, decided=first(need), active=active)
    assert isinstance(evaluate_round(cfg, before), Continue)
    assert evaluate_round(cfg, at) == Release("ratio_reached")


def test_bap_ignores_deadline_and_counts_only_active_decided() -> None:
    cfg = SyncConfig("bap", P, majority_ratio=1.0, max_round_ms=20 * P)
    v = view(T0 + 5 * P, submitted=first(6), decided=[*first(5), "ghost"])
    assert labour_ratio(v) == pytest.approx(5 / 6)
    assert evaluate_round(cfg, v) == Continue(T0 + 20 * P)
    assert accepts_update(cfg, v, 3, 3, T0 + 5 * P) == (True, "ok")
    assert accepts_update(cfg, v, 2, 3, T0 + 1) == (False, "stale_base")


def test_dead_trainer_cannot_stall_bap() -> None:
    cfg = SyncConfig("bap", P, majority_ratio=1.0, max_round_ms=3 * P)
    assert evaluate_round(cfg, view(T0 + 3 * P - 1, decided=first(5))) == Continue(T0 + 3 * P)
    assert evaluate_round(cfg, view(T0 + 3 * P, decided=first(5))) == Release("max_duration")
    assert SyncConfig("bap", P).round_cap_ms == 10 * P


# --- ASP / config ----------------------------------------------------------------------


def test_asp_rounds_behave_like_bsp() -> None:
    for now in (T0, T0 + P - 1, T0 + P):
        v = view(now, decided=first(6))
        assert evaluate_round(SyncConfig("asp", P), v) == evaluate_round(SyncConfig("bsp", P), v)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scheme": "gossip"},
        {"period_ms": 0},
        {"majority_ratio": 0.0},
        {"majority_ratio": 1.5},
        {"max_round_ms": 0},
        {"ssp_max_extra_steps": -1},
        {"asp_threshold": float("nan")},
    ],
)
def test_config_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SyncConfig(**kwargs)


@given(
    scheme=st.sampled_from(["bsp", "ssp", "bap", "asp"]),
    n_sub=st.integers(0, 6),
    n_dec=st.integers(0, 6),
    offset=st.integers(0, 30 * P),
    wait=st.booleans(),
    ratio=st.sampled_from([0.4, 0.6, 1.0]),
)
def test_round_always_ends_by_cap(
    scheme: str, n_sub: int, n_dec: int, offset: int, wait: bool, ratio: float
) -> None:
    cfg = SyncConfig(scheme, P, wait_for_all=wait, majority_ratio=ratio)
    n_dec = min(n_dec, n_sub)
    v = view(T0 + offset, submitted=first(n_sub), decided=first(n_dec))
    d = evaluate_round(cfg, v)
    if isinstance(d, Extend):
        assert scheme == "ssp" and n_sub < 6 and T0 + P < d.until_ms <= T0 + 2 * P
        d = evaluate_round(cfg, view(T0 + offset, submitted=first(n_sub), ext=d.until_ms))
        if offset >= P * 2:
            assert isinstance(d, Release)
    if offset >= cfg.round_cap_ms:
        assert isinstance(d, Release)
    if isinstance(d, Continue):
        assert d.next_check_at_ms > T0 + offset
