"""End to end on real processes: ``flobc demo --subnets 2`` trains two models side by
side on one chain; both learn, every validator agrees on both, everything stops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.processes, pytest.mark.timeout(300)]


def test_demo_trains_two_subnetworks_on_one_chain(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "flobc.cli.main", "demo", "--subnets", "2"]
    cmd += ["--out", str(out), "--rounds", "3", "--validators", "3", "--trainers", "4"]
    cmd += ["--seed", "3"]
    res = subprocess.run(
        cmd, capture_output=True, text=True, timeout=280, env={**os.environ, "COLUMNS": "120"}
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    subnets = {s["name"]: s for s in report["subnets"]}
    assert list(subnets) == ["small-cnn", "mlp"]
    for name, s in subnets.items():
        versions = s["versions"]
        assert [v["version"] for v in versions][:4] == [0, 1, 2, 3], name
        assert s["all_validators_agreed"], name
        assert all(len(v["hashes"]) == 3 for v in versions), name
        assert versions[-1]["accuracy"] > versions[0]["accuracy"] + 0.2, (name, versions)
        assert len(s["trainers"]) == 2, name
        assert (out / f"final_model-{name}.safetensors").stat().st_size > 0
    # the two models are different models, and each version is its own
    assert subnets["small-cnn"]["versions"][0]["hashes"] != subnets["mlp"]["versions"][0]["hashes"]
    assert {t["id"] for t in subnets["small-cnn"]["trainers"]}.isdisjoint(
        t["id"] for t in subnets["mlp"]["trainers"]
    )
    # one chain: a single ledger per validator
    assert len(list((out / "ledgers").glob("validator-*.sqlite"))) == 3
    assert (out / "accuracy.png").stat().st_size > 0
    for pid_file in (out / "network" / "run").glob("*.pid"):
        pytest.fail(f"pid file left behind: {pid_file}")
    ps = subprocess.run(["pgrep", "-f", str(out / "network")], capture_output=True, text=True)
    assert ps.stdout.strip() == "", f"processes left running: {ps.stdout}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--attack", "sign_flip"], "Error: subnets: [[attacks]] and [[byzantine_validators]]"),
        (["--trainers", "2", "--subnets", "3"], "Error: subnets: 3 subnetworks need at least 3"),
    ],
)
def test_demo_subnets_refuses_what_it_cannot_run_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    from click.testing import CliRunner

    from flobc.cli.main import cli

    argv = ["demo", "--out", str(tmp_path / "d"), "--subnets", "2", *args]
    res = CliRunner().invoke(cli, argv)
    assert res.exit_code == 1 and res.output.startswith(message), res.output
    assert res.output.count("\n") == 1
    assert not (tmp_path / "d" / "network").exists()
