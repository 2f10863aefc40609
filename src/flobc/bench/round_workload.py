"""The fixed workload of ``flobc bench round``, shared by its FLoBC and Flower sides.

Digits (scikit-learn, 8x8), 7 trainers/clients each on FLoBC's own IID 30% partition,
a two-layer CNN, 1 local epoch of plain SGD (lr 0.05, batch 32) per round, 10 rounds,
FedAvg with every update accepted and uniform weights. Both sides take the partitions,
the genesis model, the seeds and the training loop from the same FLoBC code, so they do
the same arithmetic and reach the same accuracy; only the framework around it differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flobc.encoding import sha256
from flobc.node_apps.fl.settings import FLRunConfig, load_config

MODEL = "flobc.bench.round_workload:cnn"


def cnn(input_shape: Sequence[int], num_classes: int, seed: int = 0) -> Any:
    """Conv(16,3,p1) ReLU MaxPool2 → Conv(32,3,p1) ReLU MaxPool2 → FC64 ReLU → FC out: the
    CNN of Flower's digits baseline (``../shared/peers/flower``), seeded."""
    import torch
    from torch import nn

    from flobc.ml.torch_models import image_shape

    c, h, w = image_shape(input_shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(c, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * (h // 4) * (w // 4), 64),
            nn.ReLU(),
            nn.Linear(64, num_classes),
        )


def workload_config(trainers: int = 7, validators: int = 3, seed: int = 0) -> FLRunConfig:
    """The FLoBC run configuration of the workload (BSP waiting for every trainer)."""
    return load_config(
        None,
        **{
            "seed": seed,
            "network.validators": validators,
            "network.trainers": trainers,
            "model.name": MODEL,
            "data.dataset": "digits",
            "data.partition": "iid",
            "data.fraction": 0.3,
            "training.epochs": 1,
            "training.lr": 0.05,
            "training.batch_size": 32,
            "training.optimizer": "sgd",
            "sync.scheme": "bsp",
            "sync.wait_for_all": True,
            # Long enough that the first round waits for all trainers to start up
            # (a deadline with no update would release an empty version 1).
            "sync.period_s": 600,
            "reputation.policy": "uniform",
            "reputation.acceptance_threshold": -1.0,
        },
    )


def train_seed(cfg: FLRunConfig, index: int, version: int) -> int:
    """The seed FLoBC's trainer ``index`` uses on ``version`` (:class:`TrainerCore`)."""
    return int.from_bytes(sha256(f"{cfg.seed}/{index}/{version}/0".encode())[:4], "little")
