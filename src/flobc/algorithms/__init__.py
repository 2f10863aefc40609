"""The paper's algorithms as pure, deterministic functions.

These run inside block execution on every validator: no clocks, no randomness, no I/O, no
torch; fixed iteration order; only ints, floats and numpy; identical bytes everywhere.

* :mod:`.aggregation` — trust-weighted FedAvg (§III.B, §III.D)
* :mod:`.aggregators` — registry of aggregation rules: FedAvg and robust ones (median,
  trimmed mean, Krum, geometric median, centered clipping, norm clipping)
* :mod:`.decision` — accepting an update from validators' votes (median improvement)
* :mod:`.reputation` — reward-penalty trust scores (§III.D, Experiment 2)
* :mod:`.sync` — registry of BSP / SSP / BAP / ASP scheme classes and the sync settings
  (§III.C, Experiment 3)
* :mod:`.significance` — ASP significance filter (beyond the paper)
* :mod:`.adaptive_period` — adaptive sync period (the paper's future work)
"""

from flobc.algorithms.adaptive_period import nearest_rank_percentile, next_period
from flobc.algorithms.aggregation import (
    WeightedUpdate,
    aggregate,
    aggregate_plain_fedavg,
    aggregation_weights,
)
from flobc.algorithms.aggregators import AGGREGATORS, Aggregator, aggregator_from_name
from flobc.algorithms.decision import Decision, decide, has_quorum, median_improvement
from flobc.algorithms.reputation import (
    POLICIES,
    ReputationPolicy,
    RewardPenalty,
    Uniform,
    normalise_scores,
    policy_from_name,
    register_trainer,
)
from flobc.algorithms.significance import (
    is_significant,
    l2_norm,
    partition_significant,
    relative_magnitude,
)
from flobc.algorithms.sync import (
    SCHEMES,
    Continue,
    Extend,
    Release,
    RoundView,
    SyncDecision,
    SyncScheme,
    SyncSettings,
    all_decided,
    extension_ms,
    labour_ratio,
    required_decided,
    slack_ratio,
    sync_scheme,
)

__all__ = [
    "AGGREGATORS",
    "POLICIES",
    "SCHEMES",
    "Aggregator",
    "Continue",
    "Decision",
    "Extend",
    "Release",
    "ReputationPolicy",
    "RewardPenalty",
    "RoundView",
    "SyncDecision",
    "SyncScheme",
    "SyncSettings",
    "Uniform",
    "WeightedUpdate",
    "aggregate",
    "aggregate_plain_fedavg",
    "aggregation_weights",
    "aggregator_from_name",
    "all_decided",
    "decide",
    "extension_ms",
    "has_quorum",
    "is_significant",
    "l2_norm",
    "labour_ratio",
    "median_improvement",
    "nearest_rank_percentile",
    "next_period",
    "normalise_scores",
    "partition_significant",
    "policy_from_name",
    "register_trainer",
    "relative_magnitude",
    "required_decided",
    "slack_ratio",
    "sync_scheme",
]
