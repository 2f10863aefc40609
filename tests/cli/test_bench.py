"""``flobc bench consensus`` parts on a small real network (they measure, so only their
plumbing is checked here; the numbers are in docs/results/bench-consensus)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flobc.bench.consensus import (
    local_network,
    measure_latency,
    measure_propagation,
    measure_throughput,
)

pytestmark = pytest.mark.timeout(120)


def test_latency_and_update_propagation_on_two_validators(tmp_path: Path) -> None:
    with local_network(2, 100, tmp_path) as ln:
        lat = asyncio.run(measure_latency(ln, samples=3, poll_ms=2))
        assert 0 < lat["latency_p50_ms"] <= lat["latency_max_ms"] < 30_000
        assert lat["latency_node_cpu_ms"] > 0
        prop = asyncio.run(measure_propagation(ln, samples=2, blob_mb=0.5, poll_ms=2))
        assert prop["blob_mb"] == 0.5
        assert 0 < prop["blob_to_all_p50_ms"] <= prop["blob_to_all_p95_ms"] < 30_000


@pytest.mark.parametrize("batch", [1, 25])
def test_throughput_load_single_and_batched(tmp_path: Path, batch: int) -> None:
    # 10,000 transactions outlast the 0.5 + 1.5 s on any machine: with too few (300) a
    # quiet machine committed them all in the warm-up and the window counted none
    with local_network(2, 100, tmp_path) as ln:
        out = asyncio.run(measure_throughput(ln, 1.5, 0.5, 2, 10_000, 60, batch))
    assert out["exhausted"] == 0.0
    assert out["rejected"] == 0 and out["throughput_tx_s"] > 0
    assert out["throughput_node_cpu_ms_per_tx"] > 0
    # a request per transaction, or fewer with batches (the window holds up to 60)
    assert (out["requests_s"] >= out["throughput_tx_s"] * 0.5) == (batch == 1)


def test_a_network_that_misbehaves_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from flobc.bench.consensus import BenchError
    from flobc.cli import bench as cli_bench

    def stalled(n: int, wall_s: float, tx_every_ms: int) -> dict[str, float]:
        raise BenchError("validators did not start: v0 exited 1")

    monkeypatch.setattr(cli_bench, "measure_sim", stalled)
    out = CliRunner().invoke(cli_bench.bench, ["consensus", "--sizes", "2", "--only", "sim"])
    assert out.exit_code == 1
    assert out.output.strip().endswith("Error: validators did not start: v0 exited 1")
    assert "Traceback" not in out.output
