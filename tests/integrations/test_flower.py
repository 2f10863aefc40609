"""Existing Flower clients run unchanged as FLoBC trainers (``[training] flower_client``).

The peer's Flower App (``../shared/peers/flower/flower_app``, a ``ClientApp`` with an
``@app.train()`` handler) is imported from where it lies, never copied; ``flower_toy`` is
a ``NumPyClient`` written the way Flower's docs write one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("flwr", reason="Flower is the optional extra: pip install 'flobc[flower]'")

import flower_toy

from flobc.integrations.flower import flower_learner
from flobc.ml.train import TrainConfig
from flobc.node_apps.fl import trainer_core
from flobc.node_apps.fl.settings import ConfigError, FLRunConfig, load_config
from flobc.sim.fl_network import SimFLNetwork

ROOT = Path(__file__).resolve().parents[2]
PEER_APP = next(
    (
        p / "shared" / "peers" / "flower" / "flower_app"
        for p in ROOT.parents
        if (p / "shared" / "peers" / "flower" / "flower_app" / "flowerbench").is_dir()
    ),
    None,
)
needs_peer = pytest.mark.skipif(PEER_APP is None, reason="../shared/peers/flower is absent")
PEER = {
    "model.name": "flobc.integrations.flower:torch_module",
    "model.options": {"module": "flowerbench.task:Net"},
    "training.flower_client": "flowerbench.client_app:app",
    "training.epochs": 1,
    "training.optimizer": "sgd",
    "reputation.policy": "uniform",
    "reputation.acceptance_threshold": -1.0,
    "sync.wait_for_all": True,
}


@pytest.fixture
def peer_path(monkeypatch: pytest.MonkeyPatch) -> Path:
    assert PEER_APP is not None
    monkeypatch.syspath_prepend(str(PEER_APP))
    return PEER_APP


def _accuracies(net: SimFLNetwork, cfg: FLRunConfig) -> list[float]:
    """Test accuracy of every released version, scored by a FLoBC observer."""
    node = net.ledger.node(0)
    test = trainer_core.test_data(cfg)
    learner = trainer_core.make_learner(cfg, cfg.seed)
    out = []
    for v in node.app.state.versions:  # type: ignore[attr-defined]
        learner.set_weights(np.frombuffer(node.blobs.get(bytes.fromhex(v.weights)), "<f4"))
        out.append(learner.evaluate(test.x, test.y))
    return out


def _sim(cfg: FLRunConfig, versions: int) -> SimFLNetwork:
    net = SimFLNetwork(cfg)
    assert net.run_until_version(versions, 600_000)
    return net


@needs_peer
def test_peer_clientapp_trains_as_flobc_trainers(peer_path: Path) -> None:
    cfg = load_config(
        None, **PEER, **{"network.validators": 3, "network.trainers": 4, "training.lr": 0.5}
    )
    net = _sim(cfg, 5)
    acc = _accuracies(net, cfg)
    assert acc[-1] > acc[0] + 0.2, acc
    versions = net.ledger.node(0).app.state.versions  # type: ignore[attr-defined]
    assert all(len(v.updates) == 4 for v in versions[1:6])  # every trainer, every round


def test_numpy_client_gives_the_model_when_model_is_flower() -> None:
    cfg = load_config(
        None,
        **{
            "network.validators": 2,
            "network.trainers": 3,
            "model.name": "flower",
            "training.flower_client": "flower_toy:client_fn",
            "training.epochs": 1,
            "training.lr": 0.5,
            "training.optimizer": "sgd",
            "reputation.policy": "uniform",
            "reputation.acceptance_threshold": -1.0,
        },
    )
    flower_toy.SEEN.clear()
    learner = trainer_core.make_learner(cfg, cfg.seed)
    assert [t.shape for t in learner.spec.tensors] == [(64, 10), (10,)]
    assert np.array_equal(
        learner.get_weights(), trainer_core.make_learner(cfg, cfg.seed).get_weights()
    )
    net = _sim(cfg, 3)
    app = net.ledger.node(0).app
    first = app.state.versions[0]  # type: ignore[attr-defined]
    scores = [s for v in app.state.updates.values() for s in (v.votes or {}).values()]  # type: ignore[attr-defined]
    assert scores, "validators scored updates with the client's evaluate"
    accs = _accuracies(net, cfg)  # the client's own evaluate, partition 0
    assert first.version == 0 and accs[3] > accs[0] + 0.3, accs
    seen = {(c["partition-id"], c["num-partitions"], c.get("flobc-role")) for c in flower_toy.SEEN}
    assert {(i, 3, None) for i in range(3)} <= seen
    assert {(j, 2, "validator") for j in range(2)} <= seen


def _toy_learner(ref: str) -> Any:
    cfg = TrainConfig(lr=0.5, batch_size=32, epochs=1, seed=0)
    return flower_learner(ref, partition=1, partitions=3, role="trainer", scorer=None, config=cfg)


def test_clientapp_from_client_fn_matches_client_fn() -> None:
    a, b = _toy_learner("flower_toy:client_fn"), _toy_learner("flower_toy:app")
    assert np.array_equal(a.get_weights(), b.get_weights())
    sa, sb = a.train(np.empty(0), np.empty(0)), b.train(np.empty(0), np.empty(0))
    assert sa["samples"] == sb["samples"] == len(flower_toy.load_partition(1, 3, "trainer")[1])
    assert np.array_equal(a.get_weights(), b.get_weights())
    assert not np.array_equal(a.get_weights(), _toy_learner("flower_toy:app").get_weights())


def test_a_model_that_does_not_match_the_client_is_refused() -> None:
    cfg = load_config(
        None, **{"model.name": "mlp", "training.flower_client": "flower_toy:client_fn"}
    )
    with pytest.raises(ValueError, match="must match the client's parameters"):
        trainer_core.make_learner(cfg, 0, role="trainer", index=0)


def test_model_flower_needs_a_flower_client() -> None:
    with pytest.raises(ConfigError, match="flower_client"):
        load_config(None, **{"model.name": "flower"})


def test_trainer_cli_flower_option_overrides_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flobc.node_apps.fl import launch, workers
    from flobc.orchestration.fl_setup import fl_network_args
    from flobc.orchestration.netdir import create_network

    cfg = load_config(
        None, **{"network.validators": 1, "network.trainers": 1, "model.name": "logreg"}
    )
    create_network(tmp_path / "net", validators=1, trainers=1, **fl_network_args(None, cfg=cfg))
    seen: list[FLRunConfig] = []

    async def fake_run_trainer(cfg: FLRunConfig, *args: Any, **kw: Any) -> None:
        seen.append(cfg)

    monkeypatch.setattr(workers, "run_trainer", fake_run_trainer)
    assert launch.run_trainer_home(tmp_path / "net" / "trainer-0", flower="flower_toy:app") == 0
    assert seen[0].training.flower_client == "flower_toy:app"


@needs_peer
@pytest.mark.processes
@pytest.mark.timeout(300)
def test_peer_clientapp_in_a_network_of_processes(peer_path: Path, tmp_path: Path) -> None:
    """``flobc demo --config``: 3 validators and 3 Flower-client trainers as processes."""
    lines = ["seed = 0", "[network]", "validators = 3", "trainers = 3"]
    lines += ["[model]", f'name = "{PEER["model.name"]}"', "[model.options]"]
    lines += ['module = "flowerbench.task:Net"', "[training]", "epochs = 1", "lr = 0.5"]
    lines += ['optimizer = "sgd"', 'flower_client = "flowerbench.client_app:app"']
    lines += ["[reputation]", 'policy = "uniform"', "acceptance_threshold = -1.0"]
    (tmp_path / "run.toml").write_text("\n".join(lines) + "\n")
    env = dict(os.environ)
    paths = [str(ROOT / "src"), str(peer_path), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "flobc.cli.main", "demo", "--config", str(tmp_path / "run.toml")]
    proc = subprocess.run(
        [*cmd, "--rounds", "4", "--out", str(out), "--timeout", "240"],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    accs = [v["accuracy"] for v in report["versions"]]
    assert report["all_validators_agreed"]
    assert accs[-1] > accs[0] + 0.05, accs
