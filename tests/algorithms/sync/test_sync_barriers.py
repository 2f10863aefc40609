"""Round evaluation of each scheme class: BSP deadline, SSP single extension, BAP ratio,
caps."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flobc.algorithms.sync import (
    SCHEMES,
    Continue,
    Extend,
    Release,
    RoundView,
    SyncDecision,
    SyncSettings,
    extension_ms,
    labour_ratio,
    required_decided,
    slack_ratio,
    sync_scheme,
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


def cfg(scheme: str, period_ms: int = P, **kw: object) -> SyncSettings:
    """Settings that spell out what the rule under test reads (not the defaults)."""
    kw.setdefault("wait_for_all", False)
    return SyncSettings(scheme, period_ms, **kw)  # type: ignore[arg-type]


def evaluate_round(settings: SyncSettings, v: RoundView) -> SyncDecision:
    return sync_scheme(settings).evaluate(v)


# --- BSP -------------------------------------------------------------------------------


def test_bsp_releases_exactly_at_deadline() -> None:
    c = cfg("bsp", P)
    assert evaluate_round(c, view(T0 + P - 1, decided=first(6))) == Continue(T0 + P)
    assert evaluate_round(c, view(T0 + P)) == Release("deadline")


def test_bsp_wait_for_all_releases_when_everyone_decided() -> None:
    c = cfg("bsp", P, wait_for_all=True)
    assert evaluate_round(c, view(T0 + 5, decided=first(5))) == Continue(T0 + P)
    assert evaluate_round(c, view(T0 + 5, decided=first(6))) == Release("all_decided")


def test_empty_round_never_releases_as_all_decided() -> None:
    c = cfg("bsp", P, wait_for_all=True)
    assert evaluate_round(c, view(T0, active=frozenset())) == Continue(T0 + P)


# --- SSP -------------------------------------------------------------------------------


def test_ssp_extends_once_by_slack_times_period() -> None:
    c = cfg("ssp", P)
    v = view(T0 + P, submitted=first(4), decided=first(4))  # 2 of 6 missing
    assert slack_ratio(v) == pytest.approx(2 / 6)
    decision = evaluate_round(c, v)
    assert decision == Extend(until_ms=T0 + P + P * 2 // 6, slack_ratio=2 / 6)
    until = decision.until_ms
    # once granted it is never granted again: continue, then release at its end
    assert evaluate_round(c, view(T0 + P + 1, submitted=first(4), ext=until)) == Continue(until)
    assert evaluate_round(c, view(until, submitted=first(4), ext=until)) == Release("extension_end")


def test_ssp_no_extension_with_zero_slack() -> None:
    c = cfg("ssp", P)
    v = view(T0 + P, submitted=first(6), decided=first(5))
    assert slack_ratio(v) == 0.0 and extension_ms(v) == 0
    assert evaluate_round(c, v) == Release("deadline")


def test_ssp_releases_early_when_all_decided() -> None:
    c = cfg("ssp", P)
    assert evaluate_round(c, view(T0 + 1, submitted=first(6), decided=first(6))) == Release(
        "all_decided"
    )


# --- BAP -------------------------------------------------------------------------------


@pytest.mark.parametrize(("ratio", "n", "need"), [(0.6, 5, 3), (0.6, 6, 4), (1.0, 6, 6)])
def test_bap_releases_exactly_when_ratio_reached(ratio: float, n: int, need: int) -> None:
    active = frozenset(first(n))
    c = cfg("bap", P, majority_ratio=ratio)
    assert required_decided(ratio, n) == need
    before = view(T0 + 1, decided=first(need - 1), active=active)
    at = view(T0 + 1, decided=first(need), active=active)
    assert isinstance(evaluate_round(c, before), Continue)
    assert evaluate_round(c, at) == Release("ratio_reached")


def test_bap_ignores_deadline_and_counts_only_active_decided() -> None:
    c = cfg("bap", P, majority_ratio=1.0, max_round_ms=20 * P)
    v = view(T0 + 5 * P, submitted=first(6), decided=[*first(5), "ghost"])
    assert labour_ratio(v) == pytest.approx(5 / 6)
    assert evaluate_round(c, v) == Continue(T0 + 20 * P)


def test_dead_trainer_cannot_stall_bap() -> None:
    c = cfg("bap", P, majority_ratio=1.0, max_round_ms=3 * P)
    assert evaluate_round(c, view(T0 + 3 * P - 1, decided=first(5))) == Continue(T0 + 3 * P)
    assert evaluate_round(c, view(T0 + 3 * P, decided=first(5))) == Release("max_duration")
    assert cfg("bap", P).round_cap_ms == 10 * P


# --- ASP / all -------------------------------------------------------------------------


def test_asp_rounds_behave_like_bsp() -> None:
    for now in (T0, T0 + P - 1, T0 + P):
        v = view(now, decided=first(6))
        assert evaluate_round(cfg("asp", P), v) == evaluate_round(cfg("bsp", P), v)


@given(
    scheme=st.sampled_from(sorted(SCHEMES)),
    n_sub=st.integers(0, 6),
    n_dec=st.integers(0, 6),
    offset=st.integers(0, 30 * P),
    wait=st.booleans(),
    ratio=st.sampled_from([0.4, 0.6, 1.0]),
)
def test_round_always_ends_by_cap(
    scheme: str, n_sub: int, n_dec: int, offset: int, wait: bool, ratio: float
) -> None:
    c = cfg(scheme, P, wait_for_all=wait, majority_ratio=ratio)
    n_dec = min(n_dec, n_sub)
    v = view(T0 + offset, submitted=first(n_sub), decided=first(n_dec))
    d = evaluate_round(c, v)
    if isinstance(d, Extend):
        assert scheme == "ssp" and n_sub < 6 and T0 + P < d.until_ms <= T0 + 2 * P
        d = evaluate_round(c, view(T0 + offset, submitted=first(n_sub), ext=d.until_ms))
        if offset >= P * 2:
            assert isinstance(d, Release)
    if offset >= c.round_cap_ms:
        assert isinstance(d, Release)
    if isinstance(d, Continue):
        assert d.next_check_at_ms > T0 + offset
