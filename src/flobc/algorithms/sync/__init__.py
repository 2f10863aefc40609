"""Synchronisation barriers (paper §III.C) evaluated from ledger facts and block time.

A *round* trains on one base model version; its barrier releases the next version. Each
scheme is a class in :data:`SCHEMES` (BSP, SSP, BAP, ASP; :mod:`.schemes`) configured by
the genesis' :class:`SyncSettings` (:mod:`.settings`, the one definition of the sync
settings and their defaults). It reads a :class:`RoundView` (:mod:`.view`) and decides
the round, admits updates, and tells trainers what to do next (:mod:`.trainer`).
Time is integer milliseconds; ratios compare exactly.
"""

from flobc.algorithms.sync.schemes import (
    ASP,
    BAP,
    BSP,
    SCHEMES,
    SSP,
    SyncScheme,
    next_work,
    scheme_class,
    sync_scheme,
)
from flobc.algorithms.sync.settings import DEFAULT_SYNC, MAX_ROUND_FACTOR, SyncSettings
from flobc.algorithms.sync.trainer import TrainerView, Work
from flobc.algorithms.sync.view import (
    Admission,
    Candidate,
    Continue,
    Extend,
    Release,
    ReleaseReason,
    RoundView,
    SyncDecision,
    all_decided,
    extension_ms,
    labour_ratio,
    required_decided,
    slack_ratio,
)

__all__ = [
    "ASP",
    "BAP",
    "BSP",
    "DEFAULT_SYNC",
    "MAX_ROUND_FACTOR",
    "SCHEMES",
    "SSP",
    "Admission",
    "Candidate",
    "Continue",
    "Extend",
    "Release",
    "ReleaseReason",
    "RoundView",
    "SyncDecision",
    "SyncScheme",
    "SyncSettings",
    "TrainerView",
    "Work",
    "all_decided",
    "extension_ms",
    "labour_ratio",
    "next_work",
    "required_decided",
    "scheme_class",
    "slack_ratio",
    "sync_scheme",
]
