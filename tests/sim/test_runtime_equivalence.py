"""The simulator and real processes run the same node code (validators, and the trainer and
evaluator cores of ``flobc.roles``): same outcomes, timing aside."""

from __future__ import annotations

from pathlib import Path

import pytest

from flobc.cli.demo import run_demo
from flobc.node_apps.fl.settings import load_config
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


def test_an_equivocating_validator_process_changes_no_version(tmp_path: Path) -> None:
    """One Byzantine validator of four, as a real process, sends conflicting votes to
    different peers; the network releases what an all-honest simulated network releases."""
    settings = {
        "seed": 3,
        "network.validators": 4,
        "network.trainers": 3,
        "model.name": "logreg",
        "sync.scheme": "bsp",
        "sync.wait_for_all": True,
        "sync.period_s": 120,
    }
    sim = SimFLNetwork(load_config(None, **settings))
    assert sim.run_until_version(ROUNDS, 600_000)
    honest = sim.ledger.node(0).app.state.versions[: ROUNDS + 1]

    byz = [{"behaviour": "equivocate", "validators": [3]}]
    cfg = load_config(None, **settings, byzantine_validators=byz)
    report = run_demo(tmp_path / "processes", cfg, ROUNDS, timeout_s=240)
    versions = report["versions"][: ROUNDS + 1]
    assert all(len(set(v["hashes"].values())) == 1 for v in versions)  # validators agree
    assert [v.weights for v in honest] == [next(iter(v["hashes"].values())) for v in versions]
    log = (tmp_path / "processes" / "network" / "run" / "validator-3.log").read_text()
    assert "sent to http://" in log  # the conflicting second votes did go out
