"""End to end on real processes: ``flobc demo`` trains, agrees, reports and cleans up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.processes, pytest.mark.timeout(300)]


def test_demo_learns_agrees_and_stops_everything(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    cmd = [
        sys.executable,
        "-m",
        "flobc.cli.main",
        "demo",
        "--out",
        str(out),
        "--rounds",
        "4",
        "--validators",
        "3",
        "--trainers",
        "4",
        "--seed",
        "3",
    ]
    res = subprocess.run(
        cmd, capture_output=True, text=True, timeout=280, env={**os.environ, "COLUMNS": "120"}
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "dashboard: http://127.0.0.1:" in res.stdout
    report = json.loads((out / "report.json").read_text())
    versions = report["versions"]
    assert [v["version"] for v in versions][:5] == [0, 1, 2, 3, 4]
    # Determinism on real processes: same weights and trust on every validator, every version.
    assert report["all_validators_agreed"]
    assert all(len(v["hashes"]) == 3 for v in versions)
    # The network learns.
    assert versions[-1]["accuracy"] > versions[0]["accuracy"] + 0.2
    for v in versions[1:]:
        assert abs(sum(v["scores"].values()) - 1.0) < 1e-9
    for name in ("accuracy.png", "trust.png", "final_model.safetensors"):
        assert (out / name).stat().st_size > 0
    assert len(list((out / "ledgers").glob("validator-*.sqlite"))) == 3
    # Every process it started is gone.
    for pid_file in (out / "network" / "run").glob("*.pid"):
        pytest.fail(f"pid file left behind: {pid_file}")
    ps = subprocess.run(["pgrep", "-f", str(out / "network")], capture_output=True, text=True)
    assert ps.stdout.strip() == "", f"processes left running: {ps.stdout}"
