"""Attacks run the same in the simulator and in real trainer processes: with poisoned
updates aggregated (no validation), both release the same model versions, so every
attacker uploaded the same bytes, including a free rider that fetches the previous global
model over HTTP and sybils that replay each other's honest training."""

from __future__ import annotations

from pathlib import Path

import pytest

from flobc.cli.demo import run_demo
from flobc.node_apps.fl.settings import load_config
from flobc.sim.fl_network import SimFLNetwork

pytestmark = [pytest.mark.processes, pytest.mark.timeout(300)]

ROUNDS = 2


def test_attacked_runs_release_identical_versions_in_both_runtimes(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        **{
            "seed": 5,
            "network.validators": 3,
            "network.trainers": 5,
            "model.name": "logreg",
            "sync.scheme": "bsp",
            "sync.wait_for_all": True,
            "sync.period_s": 120,
            "validation.rule": "none",
            "reputation.policy": "uniform",
        },
        attacks=[
            {"name": "free_ride_global", "trainers": [1]},
            {"name": "min_max", "trainers": [3, 4], "sybil": True},
        ],
    )
    sim = SimFLNetwork(cfg)
    assert sim.run_until_version(ROUNDS, 600_000)
    sim_versions = sim.ledger.node(0).app.state.versions[: ROUNDS + 1]

    report = run_demo(tmp_path / "processes", cfg, ROUNDS, timeout_s=240)
    proc_versions = report["versions"][: ROUNDS + 1]

    assert len(proc_versions) == ROUNDS + 1
    assert [v.weights for v in sim_versions] == [
        next(iter(v["hashes"].values())) for v in proc_versions
    ]
