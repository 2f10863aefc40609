"""``flobc bench round``: both sides do the same arithmetic, and the summary's ratios."""

from __future__ import annotations

import numpy as np
import pytest

from flobc.bench.round_workload import workload_config
from flobc.cli.bench_round import summarize
from flobc.crypto.keys import KeyPair
from flobc.node_apps.fl import trainer_core


def test_flower_client_trains_exactly_as_a_flobc_trainer() -> None:
    pytest.importorskip("flwr", reason="Flower is the optional extra: pip install 'flobc[flower]'")
    from flobc.integrations.flower import flower_learner
    from flobc.ml.train import TrainConfig

    cfg = workload_config()
    core = trainer_core.TrainerCore(cfg, 2, KeyPair.generate(), "bench")
    base = core.learner.get_weights()
    flobc_local, _ = core.train(base, 0)
    flower = flower_learner(
        "flobc.bench.flower_app:client",
        partition=2,
        partitions=7,
        role="trainer",
        scorer=trainer_core.make_learner(cfg, cfg.seed),
        config=TrainConfig(lr=0.05, batch_size=32, epochs=1, seed=cfg.seed),
        run_config={"num-clients": 7},
    )
    flower.set_weights(base)
    flower.train(np.empty(0), np.empty(0))  # server-round 1 = FLoBC version 0
    assert np.array_equal(flower.get_weights(), flobc_local)


def _side(steady: float, whole: float) -> dict:
    rounds = [{"round_s": 30.0}] + [{"round_s": steady}] * 4
    return {"rounds": rounds, "whole_s": whole, "final_accuracy": 0.5}


def test_summary_uses_rounds_2_to_n_and_medians_over_runs() -> None:
    runs = [
        {"flobc": _side(s, w) | {"profile": [], "trainer_fit_s": [0.1]}, "flower": _side(0.5, 40)}
        for s, w in ((1.0, 20), (2.0, 22), (3.0, 30))
    ]
    s = summarize(runs)
    assert s["flobc"]["steady_round_s"] == [1.0, 2.0, 3.0]
    assert s["ratio_steady_round"] == pytest.approx(2.0 / 0.5)
    assert s["ratio_whole_run"] == pytest.approx(22 / 40)


def test_cpu_per_round_sums_each_role_over_the_steady_rounds() -> None:
    from flobc.cli.bench_round import _cpu_per_round

    roles = {"validator-0": "validator", "validator-1": "validator", "trainer-0": "trainer"}
    before = {"validator-0": 1.0, "validator-1": 2.0, "trainer-0": 0.5}
    after = {"validator-0": 3.0, "validator-1": 3.0, "trainer-0": 1.5}
    cpu = _cpu_per_round(roles, before, after, watcher=0.4, wall=8.0, n=4)
    assert cpu == pytest.approx({"validators": 0.75, "trainers": 0.25, "watcher": 0.1, "wall": 2.0})
    runs = [
        {
            "flobc": _side(1.0, 20) | {"profile": [], "trainer_fit_s": [0.1], "cpu_per_round_s": c},
            "flower": _side(0.5, 40),
        }
        for c in (cpu, {k: 2 * v for k, v in cpu.items()}, {k: 3 * v for k, v in cpu.items()})
    ]
    assert summarize(runs)["flobc_cpu_per_round_median_s"] == pytest.approx(
        {k: 2 * v for k, v in cpu.items()}
    )
