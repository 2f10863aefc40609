"""The Flower App of ``flobc bench round``: the workload of :mod:`round_workload` on
Flower's own ServerApp, FedAvg strategy and ClientApp.

The ClientApp trains exactly as FLoBC's trainer does (same partition, learner and seed per
round); the ServerApp starts from FLoBC's genesis model, aggregates with Flower's
``FedAvg`` (equal partitions, so the plain mean FLoBC's uniform trust gives), evaluates on
FLoBC's test set and writes per-round timings, taken as Flower's digits baseline does:
a round runs from ``configure_train`` to the end of the centralized evaluation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from flobc.bench.round_workload import train_seed, workload_config
from flobc.ml.weights import ModelSpec, flatten, unflatten
from flobc.node_apps.fl import trainer_core

client = ClientApp()
server = ServerApp()
_LEARNERS: dict[int, Any] = {}


def _cfg(context: Context) -> Any:
    return workload_config(int(context.run_config["num-clients"]))


def _record(vec: np.ndarray, spec: ModelSpec) -> ArrayRecord:
    return ArrayRecord({k: Array(v) for k, v in unflatten(vec, spec).items()})


def _vector(rec: ArrayRecord, spec: ModelSpec) -> np.ndarray:
    return flatten({k: v.numpy() for k, v in rec.items()}, spec)


@client.train()
def train(msg: Message, context: Context) -> Message:
    cfg = _cfg(context)
    cid = int(context.node_config["partition-id"])
    if cid not in _LEARNERS:
        _LEARNERS[cid] = (
            trainer_core.make_learner(cfg, cfg.seed),
            trainer_core.trainer_data(cfg, cid),
        )
    learner, data = _LEARNERS[cid]
    version = int(msg.content["config"]["server-round"]) - 1
    learner.set_weights(_vector(msg.content["arrays"], learner.spec))
    stats = learner.train(data.x, data.y, epochs=1, seed=train_seed(cfg, cid, version))
    metrics = {"num-examples": len(data.x), "fit-time": float(stats["seconds"]), "client-id": cid}
    content = RecordDict(
        {"arrays": _record(learner.get_weights(), learner.spec), "metrics": MetricRecord(metrics)}
    )
    return Message(content=content, reply_to=msg)


class _TimedFedAvg(FedAvg):
    """FedAvg that timestamps the start of each round."""

    def __init__(self, starts: dict[int, float], **kw: Any) -> None:
        super().__init__(**kw)
        self.starts = starts

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self.starts[server_round] = time.perf_counter()
        return super().configure_train(server_round, arrays, config, grid)


@server.main()
def main(grid: Grid, context: Context) -> None:
    cfg = _cfg(context)
    n, rounds = cfg.network.trainers, int(context.run_config["num-server-rounds"])
    learner, test = trainer_core.make_learner(cfg, cfg.seed), trainer_core.test_data(cfg)
    spec, starts, ends, accs = learner.spec, {}, {}, {}

    def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        learner.set_weights(_vector(arrays, spec))
        accs[server_round] = float(learner.evaluate(test.x, test.y))
        ends[server_round] = time.perf_counter()
        return MetricRecord({"accuracy": accs[server_round]})

    strategy = _TimedFedAvg(
        starts, fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=n, min_available_nodes=n
    )
    strategy.start(
        grid=grid,
        initial_arrays=_record(learner.get_weights(), spec),
        num_rounds=rounds,
        evaluate_fn=evaluate_fn,
    )
    result = {
        "rounds": [
            {"round": r, "round_s": ends[r] - starts[r], "accuracy": accs[r]}
            for r in range(1, rounds + 1)
        ],
        "initial_accuracy": accs.get(0),
        "done_epoch": time.time(),
    }
    Path(str(context.run_config["out-file"])).write_text(json.dumps(result))
