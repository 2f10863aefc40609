"""``flobc bench ledger``: a short run's JSON has the first/last comparison it promises."""

from __future__ import annotations

import gc
import json
from pathlib import Path

from click.testing import CliRunner

from flobc.bench.ledger import run_once
from flobc.cli.bench import bench


def test_one_version_per_round_and_the_windows_compared() -> None:
    doc = run_once(12, window=5, store="memory")
    assert doc["final_version"] == 12  # every round released exactly once
    assert doc["blocks"] == 12 * doc["workload"]["blocks_per_round"]
    assert doc["window"] == 5 and len(doc["window_medians_cpu_ms"]) == doc["blocks"] // 5
    for part in ("execute_best", "cpu", "total", "execute", "store"):
        p = doc[part]
        assert p["ratio_median"] == p["last"]["median_ms"] / p["first"]["median_ms"]
        assert p["first"]["median_ms"] <= p["first"]["p95_ms"]
    assert set(doc["by_kind_cpu"]) == {"updates", "votes", "release"}
    # the snapshotted live state does not grow with the rounds
    sizes = list(doc["live_state_bytes"].values())
    assert sizes[1] < 2 * sizes[0]


def test_cli_writes_the_json(tmp_path: Path) -> None:
    out = tmp_path / "ledger.json"
    args = ["ledger", "--rounds", "10", "--window", "4", "--repeat", "2", "--no-gc"]
    res = CliRunner().invoke(bench, [*args, "--json", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert len(doc["runs"]) == 2 and doc["workload"]["rounds"] == 10
    assert doc["workload"]["gc"] is False and gc.isenabled()  # switched back on
    assert "ratio_median" in doc["summary"]["cpu"] and "cpu: first 4 blocks" in res.output
    assert "execute_best" in doc["summary"]


def test_cli_refuses_a_bad_option() -> None:
    res = CliRunner().invoke(bench, ["ledger", "--rounds", "0"])
    assert res.exit_code == 2 and "--rounds" in res.output
