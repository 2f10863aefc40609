"""The synchronisation settings of a network, defined once with one set of defaults.

The genesis records them (``app_state["fl"]["sync"]``, integer milliseconds) and the
TOML run configuration (:mod:`flobc.node_apps.fl.settings`, seconds) takes its defaults from
:data:`DEFAULT_SYNC`, so a value left out means the same thing in either place.
"""

from __future__ import annotations

import math

import msgspec

__all__ = ["DEFAULT_SYNC", "MAX_ROUND_FACTOR", "SyncSettings"]

#: Default round cap when ``max_round_ms`` is not set: this many periods.
MAX_ROUND_FACTOR = 10


class SyncSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Barrier settings (genesis parameters); the scheme name selects a class of
    :data:`flobc.algorithms.sync.SCHEMES`, which checks it.

    ``period_ms`` is the base period ``P`` (a round may carry an adapted one).
    ``wait_for_all`` lets BSP/ASP release as soon as every active trainer is decided.
    ``majority_ratio`` ∈ (0, 1] is BAP's labour threshold. ``max_round_ms`` caps every
    round (default ``MAX_ROUND_FACTOR · period_ms``). ``ssp_max_extra_steps`` is SSP's
    ``N``; ``asp_threshold`` the ASP significance bound. ``adaptive*`` tune the adaptive
    period (beyond the paper): a percentile of the last ``adaptive_window`` rounds'
    submission delays, clamped to ``[adaptive_min_ms, adaptive_max_ms]``.

    The defaults are those every documented run and experiment used (the README's
    configuration: 20 s periods, BSP waiting for all, SSP's N = 20).
    """

    scheme: str = "bsp"
    period_ms: int = 20_000
    wait_for_all: bool = True
    majority_ratio: float = 1.0
    max_round_ms: int | None = None
    ssp_max_extra_steps: int = 20
    asp_threshold: float = 0.0
    adaptive: bool = False
    adaptive_percentile: float = 90.0
    adaptive_window: int = 3
    adaptive_min_ms: int = 1_000
    adaptive_max_ms: int = 600_000

    def __post_init__(self) -> None:
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
        if not (0.0 < self.adaptive_percentile <= 100.0):
            raise ValueError("adaptive_percentile must be in (0, 100]")
        if self.adaptive_window < 1:
            raise ValueError("adaptive_window must be >= 1")
        if not (0 < self.adaptive_min_ms <= self.adaptive_max_ms):
            raise ValueError("adaptive_min_ms must be > 0 and <= adaptive_max_ms")

    @property
    def round_cap_ms(self) -> int:
        """Longest a round may last before a forced "max_duration" release."""
        if self.max_round_ms is not None:
            return self.max_round_ms
        return MAX_ROUND_FACTOR * self.period_ms


#: The one set of defaults.
DEFAULT_SYNC = SyncSettings()
