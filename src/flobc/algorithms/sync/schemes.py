"""The synchronisation schemes (paper §III.C), one class each, and their registry.

A scheme answers four questions, all pure functions of ledger facts and block time:

* :meth:`SyncScheme.evaluate` — does the open round continue, get extended, or release?
* :meth:`SyncScheme.admits` — does an update count for the round (base, time, and whether
  a trainer that already has an update in the round may send another)?
* :meth:`SyncScheme.deadline_ms` — the round's deadline as the API reports it (None: none);
* :meth:`SyncScheme.next_work` — what a trainer does next (every runtime asks this).

The genesis names the scheme (``sync.scheme``); :func:`sync_scheme` builds it. Every scheme
is capped at ``started + round_cap_ms`` ("max_duration"), so a dead trainer cannot stall a
round forever.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from flobc.algorithms.sync.settings import SyncSettings
from flobc.algorithms.sync.trainer import TrainerView, Work
from flobc.algorithms.sync.view import (
    Admission,
    Candidate,
    Continue,
    Extend,
    Release,
    RoundView,
    SyncDecision,
    all_decided,
    extension_ms,
    required_decided,
    slack_ratio,
)

__all__ = [
    "ASP",
    "BAP",
    "BSP",
    "SCHEMES",
    "SSP",
    "SyncScheme",
    "next_work",
    "scheme_class",
    "sync_scheme",
]


class SyncScheme(ABC):
    """One synchronisation scheme, configured by the genesis' :class:`SyncSettings`."""

    name: ClassVar[str]
    #: Printed after "already submitted an update in round N" when a resubmission is refused.
    resubmission_hint: ClassVar[str] = ""
    #: Whether a trainer's next work depends on the open round's state (an extension), so
    #: trainers must re-read the round as blocks commit, not only when a version is released.
    trainers_follow_round: ClassVar[bool] = False

    def __init__(self, settings: SyncSettings) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings!r})"

    @property
    def round_cap_ms(self) -> int:
        return self.settings.round_cap_ms

    def deadline_ms(self, view: RoundView) -> int | None:
        """When the round stops taking updates in time (before any extension)."""
        return view.deadline_ms

    def significance_threshold(self) -> float | None:
        """ASP: updates whose relative size is below this are skipped (None: no filter)."""
        return None

    @abstractmethod
    def evaluate(self, view: RoundView) -> SyncDecision:
        """Barrier decision for the open round at ``view.now_ms``.

        Called at the start of each block (before its transactions, so an SSP extension is
        recorded before late updates are judged) and after each decision.
        """

    @abstractmethod
    def admits(self, view: RoundView, current_version: int, update: Candidate) -> Admission:
        """Whether ``update`` counts for the open round, whose base is ``current_version``."""

    @classmethod
    def next_work(cls, view: TrainerView, *, ssp_extra_steps: int, share_every_steps: int) -> Work:
        """Train from each new version; what to do after submitting is the scheme's."""
        if view.latest_version > view.trained_version:
            return Work("train_new")
        if not view.submitted:
            return Work("wait")
        return cls.after_submission(
            view, ssp_extra_steps=ssp_extra_steps, share_every_steps=share_every_steps
        )

    @classmethod
    @abstractmethod
    def after_submission(
        cls, view: TrainerView, *, ssp_extra_steps: int, share_every_steps: int
    ) -> Work:
        """What a trainer that submitted on the latest version does until the next one."""


class BSP(SyncScheme):
    """Bulk synchronous parallel: a fixed period ``P`` ending at a strict deadline
    ``started + P`` after which no update counts for the round; with ``wait_for_all`` the
    barrier also falls as soon as every active trainer has a decided update. One update per
    trainer and round; a trainer waits for the next version after submitting."""

    name: ClassVar[str] = "bsp"

    def releases_when_all_decided(self) -> bool:
        return self.settings.wait_for_all

    def evaluate(self, view: RoundView) -> SyncDecision:
        cap = view.started_at_ms + self.round_cap_ms
        if self.releases_when_all_decided() and all_decided(view):
            return Release("all_decided")
        if view.now_ms >= view.deadline_ms:
            return self.at_deadline(view)
        if view.now_ms >= cap:
            return Release("max_duration")
        return Continue(min(view.deadline_ms, cap))

    def at_deadline(self, view: RoundView) -> SyncDecision:
        return Release("deadline")

    def admits(self, view: RoundView, current_version: int, update: Candidate) -> Admission:
        if update.base_version != current_version:
            return Admission.STALE_BASE
        if update.at_ms >= view.deadline_ms:
            return Admission.LATE
        if update.earlier_at_ms is not None:
            return Admission.RESUBMITTED
        return Admission.OK

    @classmethod
    def after_submission(
        cls, view: TrainerView, *, ssp_extra_steps: int, share_every_steps: int
    ) -> Work:
        return Work("wait")


class ASP(BSP):
    """BSP whose insignificant updates are skipped (see :mod:`flobc.algorithms.significance`)."""

    name: ClassVar[str] = "asp"

    def significance_threshold(self) -> float | None:
        return self.settings.asp_threshold


class SSP(BSP):
    """Stale synchronous parallel: BSP plus, at the deadline, one extension of
    ``slack_ratio · P`` where ``slack_ratio`` = (active trainers without a submission)/(active
    trainers). A trainer that submitted by the deadline may add one update of at most ``N``
    more local steps during it. Releases early when every active trainer is decided."""

    name: ClassVar[str] = "ssp"
    resubmission_hint: ClassVar[str] = "; SSP allows one more only during the extension"
    trainers_follow_round: ClassVar[bool] = True  # after_submission reads round_extended

    def releases_when_all_decided(self) -> bool:
        return True

    def evaluate(self, view: RoundView) -> SyncDecision:
        until = view.extension_until_ms
        if until is None or all_decided(view):
            return super().evaluate(view)
        cap = view.started_at_ms + self.round_cap_ms
        if view.now_ms >= until:
            return Release("extension_end")
        if view.now_ms >= cap:
            return Release("max_duration")
        return Continue(min(until, cap))

    def at_deadline(self, view: RoundView) -> SyncDecision:
        ext = extension_ms(view)
        if ext > 0:
            return Extend(until_ms=view.deadline_ms + ext, slack_ratio=slack_ratio(view))
        return Release("deadline")

    def admits(self, view: RoundView, current_version: int, update: Candidate) -> Admission:
        if update.base_version != current_version:
            return Admission.STALE_BASE
        deadline, until = view.deadline_ms, view.extension_until_ms
        if update.at_ms >= deadline and (until is None or update.at_ms >= until):
            return Admission.LATE
        earlier = update.earlier_at_ms
        extra = update.at_ms >= deadline and earlier is not None
        if extra and update.local_steps > self.settings.ssp_max_extra_steps:
            return Admission.STEP_LIMIT
        # one more update, during the extension, by a trainer done by the deadline
        if earlier is not None and not (until is not None and earlier < deadline):
            return Admission.RESUBMITTED
        return Admission.OK

    @classmethod
    def after_submission(
        cls, view: TrainerView, *, ssp_extra_steps: int, share_every_steps: int
    ) -> Work:
        """Once the round is extended, a trainer done in time trains at most N more local
        steps and resubmits its cumulative update on the same base, once."""
        if (
            view.round_extended
            and not view.extra_done
            and not view.submitted_in_extension
            and ssp_extra_steps
        ):
            return Work("train_more", ssp_extra_steps)
        return Work("wait")


class BAP(SyncScheme):
    """Barrierless asynchronous parallel: no deadline; released once the *labour ratio*
    (trainers with ≥ 1 decided update this round)/(active trainers) reaches
    ``majority_ratio`` (paper: 1.0 and 0.6). Trainers share cumulative updates any time."""

    name: ClassVar[str] = "bap"

    def deadline_ms(self, view: RoundView) -> int | None:
        return None

    def ratio_reached(self, view: RoundView) -> bool:
        """Labour ratio ≥ ``majority_ratio`` (with some trainer active)."""
        if not view.n_active:
            return False
        return view.n_decided >= required_decided(self.settings.majority_ratio, view.n_active)

    def evaluate(self, view: RoundView) -> SyncDecision:
        cap = view.started_at_ms + self.round_cap_ms
        if self.ratio_reached(view):
            return Release("ratio_reached")
        if view.now_ms >= cap:
            return Release("max_duration")
        return Continue(cap)

    def admits(self, view: RoundView, current_version: int, update: Candidate) -> Admission:
        if update.base_version != current_version:
            return Admission.STALE_BASE
        return Admission.OK

    @classmethod
    def after_submission(
        cls, view: TrainerView, *, ssp_extra_steps: int, share_every_steps: int
    ) -> Work:
        """No barrier to wait for: keep training on the current base and share the
        cumulative update every ``share_every_steps`` (or epochs), until a new version."""
        return Work("train_more", share_every_steps or None)


#: Scheme classes by name, as the genesis selects them.
SCHEMES: dict[str, type[SyncScheme]] = {s.name: s for s in (BSP, SSP, BAP, ASP)}


def scheme_class(name: str) -> type[SyncScheme]:
    """The class registered as ``name`` (case-insensitive); ValueError names the known."""
    try:
        return SCHEMES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown sync scheme {name!r}; known: {sorted(SCHEMES)}") from None


def sync_scheme(settings: SyncSettings) -> SyncScheme:
    """The scheme ``settings.scheme`` names, configured with ``settings``."""
    return scheme_class(settings.scheme)(settings)


def next_work(view: TrainerView, *, ssp_extra_steps: int, share_every_steps: int) -> Work:
    """What a trainer does next under ``view.scheme`` (shared by every runtime)."""
    return scheme_class(view.scheme).next_work(
        view, ssp_extra_steps=ssp_extra_steps, share_every_steps=share_every_steps
    )
