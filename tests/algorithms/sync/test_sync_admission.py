"""Update admission of each scheme class: base, deadline, extension, resubmission."""

from __future__ import annotations

import pytest

from flobc.algorithms.sync import Admission, Candidate, RoundView, SyncSettings, sync_scheme

P = 10_000
T0 = 1_000_000
EXT = T0 + P + 3_000  # an SSP extension's end
TRAINERS = frozenset(f"t{i}" for i in range(6))
OK, STALE, LATE = Admission.OK, Admission.STALE_BASE, Admission.LATE
LIMIT, AGAIN = Admission.STEP_LIMIT, Admission.RESUBMITTED


def admit(scheme: str, *, at: int, base: int = 3, ext: int | None = None, **kw: int) -> Admission:
    """Admission of an update by t0 on ``base`` at block time ``at`` (round base is 3);
    ``earlier`` is the block time of t0's update already in the round."""
    earlier = kw.pop("earlier", None)
    settings = SyncSettings(scheme, P, ssp_max_extra_steps=2)
    view = RoundView(
        round=3,
        base_version=3,
        started_at_ms=T0,
        now_ms=at,
        period_ms=P,
        active_trainers=TRAINERS,
        submitted=frozenset({"t0"} if earlier is not None else ()),
        extension_until_ms=ext,
    )
    update = Candidate("t0", base, at, kw.pop("steps", 1), earlier)
    return sync_scheme(settings).admits(view, 3, update)


@pytest.mark.parametrize(
    ("scheme", "case", "expected"),
    [
        # every scheme: the update must be trained on the round's base
        *[(s, {"at": T0 + 1, "base": 2}, STALE) for s in ("bsp", "ssp", "bap", "asp")],
        *[(s, {"at": T0 + 1, "base": 4}, STALE) for s in ("bsp", "ssp", "bap", "asp")],
        # BSP/ASP: strictly before the deadline, once per round
        *[(s, {"at": T0 + P - 1}, OK) for s in ("bsp", "asp")],
        *[(s, {"at": T0 + P}, LATE) for s in ("bsp", "asp")],
        *[(s, {"at": T0 + 5, "earlier": T0 + 1}, AGAIN) for s in ("bsp", "asp")],
        *[(s, {"at": T0 + P + 1, "ext": EXT}, LATE) for s in ("bsp", "asp")],
        # SSP: in time, or during a granted extension
        ("ssp", {"at": T0 + P - 1}, OK),
        ("ssp", {"at": T0 + P}, LATE),
        ("ssp", {"at": EXT - 1, "ext": EXT, "steps": 50}, OK),  # a slow trainer's first
        ("ssp", {"at": EXT, "ext": EXT}, LATE),
        # SSP: one more update, of at most N steps, by a trainer done by the deadline
        ("ssp", {"at": EXT - 1, "ext": EXT, "earlier": T0 + 5, "steps": 2}, OK),
        ("ssp", {"at": EXT - 1, "ext": EXT, "earlier": T0 + 5, "steps": 3}, LIMIT),
        ("ssp", {"at": EXT - 1, "ext": EXT, "earlier": T0 + P + 1, "steps": 1}, AGAIN),
        ("ssp", {"at": T0 + 9, "earlier": T0 + 5}, AGAIN),  # no extension (yet)
        # BAP: no deadline, cumulative re-shares any time
        ("bap", {"at": T0 + 50 * P}, OK),
        ("bap", {"at": T0 + 50 * P, "earlier": T0 + 1, "steps": 500}, OK),
    ],
)
def test_admission(scheme: str, case: dict, expected: Admission) -> None:
    assert admit(scheme, **case) == expected


def test_admission_values_are_the_ledger_reasons() -> None:
    assert [a.value for a in Admission] == [
        "ok",
        "stale_base",
        "late",
        "ssp_step_limit",
        "resubmitted",
    ]
