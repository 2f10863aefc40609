"""Synchronisation barriers (paper §III.C) evaluated from ledger facts and block time.

A *round* trains on one base model version; its barrier releases the next version. The
rules are pure functions of a :class:`RoundView` (what the ledger knows, with ``now_ms`` =
the block time) and a :class:`SyncConfig`:

* **BSP** — a fixed period ``P`` ending at a strict deadline ``started + P`` after which no
  update counts for the round; with ``wait_for_all`` the barrier also falls as soon as every
  active trainer has a decided update.
* **SSP** — BSP plus, at the deadline, one extension of ``slack_ratio · P`` where
  ``slack_ratio`` = (active trainers without a submission)/(active trainers); trainers that
  already submitted may add at most ``N`` more local steps during it. Releases early when
  every active trainer is decided.
* **BAP** — no deadline; released once the *labour ratio* (trainers with ≥ 1 decided update
  this round)/(active trainers) reaches ``majority_ratio`` (paper: 1.0 and 0.6).
* **ASP** — BSP whose insignificant updates are skipped (see :mod:`.significance`).

Every scheme is capped at ``started + max_round_ms`` ("max_duration"), so a dead trainer
cannot stall a round forever. Time is integer milliseconds; ratios compare exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, TypeAlias

__all__ = [
    "MAX_ROUND_FACTOR",
    "SCHEMES",
    "Continue",
    "Extend",
    "Release",
    "ReleaseReason",
    "RoundView",
    "Scheme",
    "SyncConfig",
    "SyncDecision",
    "accepts_update",
    "all_decided",
    "evaluate_round",
    "extension_ms",
    "labour_ratio",
    "ratio_reached",
    "required_decided",
    "slack_ratio",
]

Scheme: TypeAlias = Literal["bsp", "ssp", "bap", "asp"]
ReleaseReason: TypeAlias = Literal[
    "deadline", "extension_end", "all_decided", "ratio_reached", "max_duration"
]
SCHEMES: tuple[str, ...] = ("bsp", "ssp", "bap", "asp")
#: Default round cap when ``max_round_ms`` is not set: this many periods.
MAX_ROUND_FACTOR = 10


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """Barrier configuration (genesis parameters).

    ``period_ms`` is the base period ``P`` (a round may carry an adapted one in
    :attr:`RoundView.period_ms`). ``majority_ratio`` ∈ (0, 1] is BAP's labour threshold.
    ``max_round_ms`` caps every round (default ``MAX_ROUND_FACTOR · period_ms``).
    ``ssp_max_extra_steps`` is SSP's ``N``; ``asp_threshold`` the ASP significance bound.
    """

    scheme: Scheme = "bsp"
    period_ms: int = 60_000
    wait_for_all: bool = False
    majority_ratio: float = 1.0
    max_round_ms: int | None = None
    ssp_max_extra_steps: int = 1
    asp_threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown sync scheme {self.scheme!r}; known: {SCHEMES}")
        if self.period_ms <= 0:
            raise ValueError("period_ms must be > 0")
        if not (0.0 < self.majority_ratio <= 1.0):
            raise ValueError("majority_ratio must be in (0, 1]")
        if self.max_round_ms is not None and self.max_round_ms <= 0:
            raise ValueError("max_round_ms must be > 0")
        if self.ssp_max_extra_steps < 0:
            raise ValueError("ssp_max_extra_steps must be >= 0")
        if not math.isfinite(self.asp_threshold):
            raise ValueError("asp_threshold must be finite")

    @property
    def round_cap_ms(self) -> int:
        """Longest a round may last before a forced "max_duration" release."""
        if self.max_round_ms is not None:
            return self.max_round_ms
        return MAX_ROUND_FACTOR * self.period_ms


@dataclass(frozen=True, slots=True)
class RoundView:
    """Ledger facts about the open round, seen at block time ``now_ms``.

    ``submitted``/``decided`` hold trainer ids with ≥ 1 submitted/decided update in this
    round; only those in ``active_trainers`` count. ``extension_until_ms`` is set once SSP
    granted its extension (None = not granted).
    """

    round: int
    base_version: int
    started_at_ms: int
    now_ms: int
    period_ms: int
    active_trainers: frozenset[str]
    submitted: frozenset[str] = frozenset()
    decided: frozenset[str] = frozenset()
    extension_until_ms: int | None = None

    def __post_init__(self) -> None:
        for name in ("active_trainers", "submitted", "decided"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        if self.period_ms <= 0:
            raise ValueError("period_ms must be > 0")

    @property
    def deadline_ms(self) -> int:
        return self.started_at_ms + self.period_ms

    @property
    def extension_granted(self) -> bool:
        return self.extension_until_ms is not None

    @property
    def n_active(self) -> int:
        return len(self.active_trainers)


@dataclass(frozen=True, slots=True)
class Continue:
    """Keep the round open; nothing changes by time alone before ``next_check_at_ms``
    (a new decision can, so re-evaluate after decisions too)."""

    next_check_at_ms: int


@dataclass(frozen=True, slots=True)
class Extend:
    """SSP: extend the deadline once, to ``until_ms`` (= deadline + ⌊slack · P⌋)."""

    until_ms: int
    slack_ratio: float


@dataclass(frozen=True, slots=True)
class Release:
    """Close the round and release the aggregated model."""

    reason: ReleaseReason


SyncDecision: TypeAlias = Continue | Extend | Release


def labour_ratio(view: RoundView) -> float:
    """(active trainers with ≥ 1 decided update)/(active trainers); 0.0 with none active."""
    if not view.n_active:
        return 0.0
    return len(view.decided & view.active_trainers) / view.n_active


def slack_ratio(view: RoundView) -> float:
    """(active trainers without a submission)/(active trainers); 0.0 with none active."""
    if not view.n_active:
        return 0.0
    return len(view.active_trainers - view.submitted) / view.n_active


def extension_ms(view: RoundView) -> int:
    """SSP extension length ``⌊P · missing / active⌋`` in exact integer arithmetic."""
    if not view.n_active:
        return 0
    missing = len(view.active_trainers - view.submitted)
    return view.period_ms * missing // view.n_active


def required_decided(majority_ratio: float, n_active: int) -> int:
    """Fewest decided trainers whose share reaches ``majority_ratio``: ⌈ratio · n⌉.

    The ratio is read as its exact decimal (``0.6`` means 3/5), so e.g. 3 of 5 trainers reach
    0.6 but 2 do not, with no binary floating-point rounding at the boundary.
    """
    return math.ceil(Fraction(repr(float(majority_ratio))) * n_active)


def all_decided(view: RoundView) -> bool:
    """Every active trainer has a decided update (false when nobody is active)."""
    return view.n_active > 0 and view.active_trainers <= view.decided


def ratio_reached(cfg: SyncConfig, view: RoundView) -> bool:
    """BAP barrier condition: labour ratio ≥ ``majority_ratio`` (some trainer active)."""
    if not view.n_active:
        return False
    decided = len(view.decided & view.active_trainers)
    return decided >= required_decided(cfg.majority_ratio, view.n_active)


def evaluate_round(cfg: SyncConfig, view: RoundView) -> SyncDecision:
    """Barrier decision for the open round at ``view.now_ms``.

    Call at the start of each block (before its transactions, so an SSP extension is
    recorded before late updates are judged) and after each decision.
    """
    cap = view.started_at_ms + cfg.round_cap_ms
    now = view.now_ms
    if cfg.scheme == "bap":
        if ratio_reached(cfg, view):
            return Release("ratio_reached")
        if now >= cap:
            return Release("max_duration")
        return Continue(cap)

    deadline = view.deadline_ms
    if (cfg.wait_for_all or cfg.scheme == "ssp") and all_decided(view):
        return Release("all_decided")
    if cfg.scheme == "ssp" and view.extension_until_ms is not None:
        if now >= view.extension_until_ms:
            return Release("extension_end")
        if now >= cap:
            return Release("max_duration")
        return Continue(min(view.extension_until_ms, cap))
    if now >= deadline:
        if cfg.scheme == "ssp":
            ext = extension_ms(view)
            if ext > 0:
                return Extend(until_ms=deadline + ext, slack_ratio=slack_ratio(view))
        return Release("deadline")
    if now >= cap:
        return Release("max_duration")
    return Continue(min(deadline, cap))


def accepts_update(
    cfg: SyncConfig,
    view: RoundView,
    base_version: int,
    current_version: int,
    at_ms: int,
    *,
    trainer: str | None = None,
    local_steps: int | None = None,
) -> tuple[bool, str]:
    """Whether an update (trained on ``base_version``, included at block time ``at_ms``)
    counts for the open round. Returns ``(ok, reason)``, reason one of ``"ok"``,
    ``"stale_base"``, ``"late"``, ``"ssp_step_limit"``.

    All schemes require ``base_version == current_version``. BSP/ASP: before the deadline.
    SSP: before the deadline or, once granted, before the extension end; during the
    extension a trainer that already submitted this round may add an update of at most
    ``ssp_max_extra_steps`` local steps (checked when ``trainer`` and ``local_steps`` are
    given). BAP: any time until the release. ASP significance is checked separately.
    """
    if base_version != current_version:
        return False, "stale_base"
    if cfg.scheme == "bap":
        return True, "ok"
    deadline = view.deadline_ms
    if at_ms < deadline:
        return True, "ok"
    if cfg.scheme != "ssp" or view.extension_until_ms is None:
        return False, "late"
    if at_ms >= view.extension_until_ms:
        return False, "late"
    if (
        trainer is not None
        and local_steps is not None
        and trainer in view.submitted
        and local_steps > cfg.ssp_max_extra_steps
    ):
        return False, "ssp_step_limit"
    return True, "ok"
