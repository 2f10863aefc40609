"""The simulator and real processes run the same node code: same outcomes, timing aside."""

from __future__ import annotations

from pathlib import Path

import pytest

from flobc.cli.demo import run_demo
from flobc.node.fl_settings import load_config
from flobc.sim.fl_network import SimFLNetwork

pytestmark = [pytest.mark.processes, pytest.mark.timeout(300)]

ROUNDS = 3


def test_simulator_and_processes_release_identical_versions(tmp_path: Path) -> None:
    # BSP waiting for every trainer and 3 validators (a quorum is all of them): which
    # updates and votes decide a round does not depend on timing, so neither do the weights.
    cfg = load_config(
        None,
        **{
            "seed": 5,
            "network.validators": 3,
            "network.trainers": 3,
            "model.name": "logreg",
            "sync.scheme": "bsp",
            "sync.wait_for_all": True,
            "sync.period_s": 120,
        },
    )
    sim = SimFLNetwork(cfg)
    assert sim.run_until_version(ROUNDS, 600_000)
    sim_versions = sim.ledger.node(0).app.state.versions[: ROUNDS + 1]

    report = run_demo(tmp_path / "processes", cfg, ROUNDS, timeout_s=240)
    proc_versions = report["versions"][: ROUNDS + 1]

    assert [v.weights for v in sim_versions] == [
        next(iter(v["hashes"].values())) for v in proc_versions
    ]
    assert [sorted(v.scores.values()) for v in sim_versions] == [
        sorted(v["scores"].values()) for v in proc_versions
    ]
    assert [(v.accepted, v.rejected) for v in sim_versions] == [
        (v["accepted"], v["rejected"]) for v in proc_versions
    ]
