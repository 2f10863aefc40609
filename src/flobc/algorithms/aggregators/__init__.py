"""Aggregation rules, selected by name in the genesis so every validator runs the same one.

* ``fedavg`` — trust-weighted FedAvg, the paper's rule (:mod:`.fedavg`)
* ``median`` — coordinate-wise median (:mod:`.median`)
* ``trimmed_mean`` — coordinate-wise trimmed mean, ``beta`` or ``f`` (:mod:`.trimmed_mean`)
* ``krum`` / ``multi_krum`` — Blanchard et al. 2017, ``f`` and ``m`` (:mod:`.krum`)
* ``geometric_median`` — RFA smoothed Weiszfeld, ``iterations``, ``nu``
  (:mod:`.geometric_median`)
* ``centered_clipping`` — Karimireddy et al. 2021, ``tau``, ``iterations``
  (:mod:`.centered_clipping`)
* norm clipping — a pre-step wrapping any of them (:mod:`.norm_clipping`), chosen with
  ``clip_multiplier`` in :func:`aggregator_from_name`

All are bit-identical across machines (see :mod:`.base` for how) and document how trust
enters them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flobc.algorithms.aggregators.base import Aggregator, WeightedUpdate, accepted_params
from flobc.algorithms.aggregators.centered_clipping import CenteredClipping
from flobc.algorithms.aggregators.fedavg import FedAvg
from flobc.algorithms.aggregators.geometric_median import GeometricMedian
from flobc.algorithms.aggregators.krum import Krum, MultiKrum
from flobc.algorithms.aggregators.median import Median
from flobc.algorithms.aggregators.norm_clipping import NormClipping
from flobc.algorithms.aggregators.trimmed_mean import TrimmedMean

__all__ = [
    "AGGREGATORS",
    "Aggregator",
    "CenteredClipping",
    "FedAvg",
    "GeometricMedian",
    "Krum",
    "Median",
    "MultiKrum",
    "NormClipping",
    "TrimmedMean",
    "WeightedUpdate",
    "aggregator_from_name",
]

#: Registry of aggregator constructors by name (see :func:`aggregator_from_name`).
AGGREGATORS: dict[str, Callable[..., Aggregator]] = {
    rule.name: rule
    for rule in (
        FedAvg,
        Median,
        TrimmedMean,
        Krum,
        MultiKrum,
        GeometricMedian,
        CenteredClipping,
    )
}


def aggregator_from_name(name: str, *, clip_multiplier: float = 0.0, **params: Any) -> Aggregator:
    """Build a rule from its name (``-``/``_`` interchangeable, case-insensitive) and params.

    ``clip_multiplier > 0`` wraps it in :class:`NormClipping`. Raises ``ValueError`` naming
    the problem for an unknown rule, an unknown parameter or a bad value.
    """
    key = name.strip().lower().replace("-", "_")
    try:
        factory = AGGREGATORS[key]
    except KeyError:
        raise ValueError(f"unknown aggregator {name!r}; known: {sorted(AGGREGATORS)}") from None
    accepted = accepted_params(factory)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for aggregator {key!r}; accepted: {accepted}"
        )
    try:
        rule = factory(**params)
    except ValueError as exc:
        raise ValueError(f"aggregator {key!r}: {exc}") from None
    if clip_multiplier == 0.0:
        return rule
    return NormClipping(rule, clip_multiplier)
