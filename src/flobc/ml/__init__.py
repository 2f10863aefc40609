"""ML library for trainer and validator nodes (block execution never imports it).

Modules: :mod:`~flobc.ml.weights` (flat vector + :class:`ModelSpec`, safetensors, hashing),
:mod:`~flobc.ml.zoo` (models by name or ``module:function``), :mod:`~flobc.ml.train`
(:class:`Learner`, :func:`make_learner`; shared learner parts in
:mod:`~flobc.ml.learner_core`), :mod:`~flobc.ml.metrics`, :mod:`~flobc.ml.data`,
:mod:`~flobc.ml.idx`, :mod:`~flobc.ml.download`, :mod:`~flobc.ml.partition`,
:mod:`~flobc.ml.noise`. Importing this package does not import torch; ``TorchAdapter`` and
``TorchLearner`` (from :mod:`~flobc.ml.torch_backend`) load it on first access.
"""

from __future__ import annotations

from typing import Any

from flobc.ml.data import Dataset, DatasetNotFound, load_dataset, split_validation
from flobc.ml.download import DownloadError, download_dataset
from flobc.ml.idx import read_idx, write_idx
from flobc.ml.metrics import get_metric, register_metric
from flobc.ml.noise import PAPER_NOISE_K, add_update_noise, noise_std
from flobc.ml.partition import (
    dirichlet,
    iid_disjoint,
    iid_fraction,
    partition_for_validators,
    shards,
)
from flobc.ml.plugins import resolve_callable
from flobc.ml.train import Learner, TrainConfig, evaluate_weights, learner_for_model, make_learner
from flobc.ml.weights import (
    ModelSpec,
    TensorSpec,
    decode_vector,
    encode_vector,
    flatten,
    from_safetensors,
    to_safetensors,
    unflatten,
    weights_hash,
)
from flobc.ml.zoo import build_model, list_models, register_model

__all__ = [
    "PAPER_NOISE_K",
    "Dataset",
    "DatasetNotFound",
    "DownloadError",
    "Learner",
    "ModelSpec",
    "TensorSpec",
    "TorchAdapter",
    "TorchLearner",
    "TrainConfig",
    "add_update_noise",
    "build_model",
    "decode_vector",
    "dirichlet",
    "download_dataset",
    "encode_vector",
    "evaluate_weights",
    "flatten",
    "from_safetensors",
    "get_metric",
    "iid_disjoint",
    "iid_fraction",
    "learner_for_model",
    "list_models",
    "load_dataset",
    "make_learner",
    "noise_std",
    "partition_for_validators",
    "read_idx",
    "register_metric",
    "register_model",
    "resolve_callable",
    "shards",
    "split_validation",
    "to_safetensors",
    "unflatten",
    "weights_hash",
    "write_idx",
]


def __getattr__(name: str) -> Any:
    if name in ("TorchAdapter", "TorchLearner"):
        from flobc.ml import torch_backend

        return getattr(torch_backend, name)
    raise AttributeError(f"module 'flobc.ml' has no attribute {name!r}")
