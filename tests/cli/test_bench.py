"""``flobc bench consensus`` parts on a small real network (they measure, so only their
plumbing is checked here; the numbers are in docs/results/bench-consensus)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flobc.cli.bench import local_network, measure_latency, measure_propagation

pytestmark = pytest.mark.timeout(120)


def test_latency_and_update_propagation_on_two_validators(tmp_path: Path) -> None:
    with local_network(2, 100, tmp_path) as ln:
        lat = asyncio.run(measure_latency(ln, samples=3, poll_ms=2))
        assert 0 < lat["latency_p50_ms"] <= lat["latency_max_ms"] < 30_000
        prop = asyncio.run(measure_propagation(ln, samples=2, blob_mb=0.5, poll_ms=2))
        assert prop["blob_mb"] == 0.5
        assert 0 < prop["blob_to_all_p50_ms"] <= prop["blob_to_all_p95_ms"] < 30_000
