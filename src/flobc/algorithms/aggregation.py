"""Trust-weighted FedAvg, kept importable here for existing callers.

The implementation lives in :mod:`flobc.algorithms.aggregators.fedavg`, next to the robust
rules of the :data:`~flobc.algorithms.aggregators.AGGREGATORS` registry.
"""

from __future__ import annotations

from flobc.algorithms.aggregators.base import WeightedUpdate
from flobc.algorithms.aggregators.fedavg import (
    aggregate,
    aggregate_plain_fedavg,
    aggregation_weights,
)

__all__ = ["WeightedUpdate", "aggregate", "aggregate_plain_fedavg", "aggregation_weights"]
