"""An FL network's empty-block interval: as wide as its round deadlines allow."""

from __future__ import annotations

import pytest

from flobc.orchestration.fl_setup import EMPTY_BLOCK_MAX_MS, FL_CONSENSUS, fl_consensus
from flobc.sim.fl_fixtures import tiny_config


@pytest.mark.parametrize(
    ("settings", "interval_ms"),
    [
        ({"sync.period_s": 600}, EMPTY_BLOCK_MAX_MS),  # the bench-round workload
        ({"sync.period_s": 10}, 500),
        ({"sync.period_s": 2}, 200),  # never below the floor
        ({"sync.period_s": 600, "sync.max_round_s": 8}, 400),
        ({"sync.period_s": 600, "sync.adaptive": True, "sync.adaptive_min_s": 6}, 300),
        ({"sync.period_s": 600, "sync.scheme": "ssp"}, 200),  # trainers follow the round
    ],
)
def test_empty_blocks_are_a_twentieth_of_the_shortest_deadline_apart(
    settings: dict[str, object], interval_ms: int
) -> None:
    params = fl_consensus(tiny_config(**settings))
    assert params.empty_block_interval_ms == interval_ms
    # nothing else about consensus changes
    assert params.timeout_propose_ms == FL_CONSENSUS.timeout_propose_ms
    assert params.timeout_commit_ms == FL_CONSENSUS.timeout_commit_ms
