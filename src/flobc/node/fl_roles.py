"""The ML side of the two FL roles, independent of any transport.

* :class:`Evaluator` — a validator's training-validation service: scores base + Δ and the
  base model on the validator's private validation data and produces a vote body.
* :class:`TrainerCore` — a trainer's model-training service: trains the pulled model on its
  private partition and produces the update Δ = w_local - w_base and its upload.

Both are driven by the HTTP runtime (:mod:`flobc.node.fl_workers`) and by the simulator.
Data assignment is seeded: validators' data is disjoint from trainers'; the test set is
separate from both.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from flobc.app.fl.txs import UpdateBody, VoteBody, update_tx
from flobc.chain.types import SignedTx
from flobc.crypto.keys import KeyPair
from flobc.encoding import sha256
from flobc.node.fl_settings import FLRunConfig
from flobc.node.privacy import TrainerPrivacy


@dataclass(frozen=True)
class DataSplit:
    x: np.ndarray
    y: np.ndarray


@functools.lru_cache(maxsize=4)
def _dataset(
    name: str, data_dir: str | None, val_fraction: float, seed: int, max_train: int, max_test: int
) -> Any:
    from flobc.ml.data import load_dataset, split_validation

    ds = load_dataset(name, data_dir)
    if max_train and len(ds.x_train) > max_train:
        idx = np.sort(np.random.default_rng(seed).permutation(len(ds.x_train))[:max_train])
        ds = _replace(ds, x_train=ds.x_train[idx], y_train=ds.y_train[idx])
    if max_test and len(ds.x_test) > max_test:
        idx = np.sort(np.random.default_rng(seed + 1).permutation(len(ds.x_test))[:max_test])
        ds = _replace(ds, x_test=ds.x_test[idx], y_test=ds.y_test[idx])
    return split_validation(ds, val_fraction, seed)


def _replace(ds: Any, **kw: Any) -> Any:
    import dataclasses

    return dataclasses.replace(ds, **kw)


def dataset(cfg: FLRunConfig) -> Any:
    d = cfg.data
    return _dataset(
        d.dataset,
        d.data_dir,
        d.validation_fraction,
        cfg.seed,
        d.max_train_samples,
        d.max_test_samples,
    )


def trainer_data(cfg: FLRunConfig, index: int) -> DataSplit:
    """Trainer ``index``'s private partition of the training set."""
    from flobc.ml import partition

    ds, d, k = dataset(cfg), cfg.data, cfg.network.trainers
    seed = cfg.seed + 101
    if d.partition == "iid":
        parts = [partition.iid_fraction(len(ds.x_train), k, d.fraction, seed)[index]]
    elif d.partition == "disjoint":
        parts = [partition.iid_disjoint(len(ds.x_train), k, seed)[index]]
    elif d.partition == "dirichlet":
        parts = [partition.dirichlet(ds.y_train, k, d.alpha, seed)[index]]
    else:
        parts = [partition.shards(ds.y_train, k, d.shards_per_trainer, seed)[index]]
    idx = parts[0]
    return DataSplit(ds.x_train[idx], ds.y_train[idx])


def validator_data(cfg: FLRunConfig, index: int) -> DataSplit:
    """Validator ``index``'s private slice of the held-out validation set."""
    from flobc.ml.partition import partition_for_validators

    ds = dataset(cfg)
    idx = partition_for_validators(len(ds.x_val), cfg.network.validators, cfg.seed + 202)[index]
    return DataSplit(ds.x_val[idx], ds.y_val[idx])


def test_data(cfg: FLRunConfig) -> DataSplit:
    ds = dataset(cfg)
    return DataSplit(ds.x_test, ds.y_test)


def make_learner(cfg: FLRunConfig, seed: int) -> Any:
    from flobc.ml.train import make_learner as _make

    ds, t = dataset(cfg), cfg.training
    return _make(
        cfg.model.name,
        ds.input_shape,
        ds.num_classes,
        seed,
        lr=t.lr,
        batch_size=t.batch_size,
        optimizer=t.optimizer,
        epochs=max(t.epochs, 1),
        train_fn=t.train_fn,
        eval_fn=t.eval_fn,
        model_options=cfg.model.options,
    )


def as_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


class Evaluator:
    """Scores updates for one validator; caches the base model's score per weights hash."""

    def __init__(self, cfg: FLRunConfig, index: int):
        self.cfg = cfg
        self.data = validator_data(cfg, index)
        self.learner = make_learner(cfg, cfg.seed)
        self._base_scores: dict[bytes, float] = {}

    def score(self, weights: np.ndarray) -> float:
        """The metric of ``weights`` on this validator's data, oriented so higher is better
        (a lower-is-better metric such as ``loss`` is negated) as votes require."""
        from flobc.ml.metrics import get_metric

        metric = get_metric(self.cfg.training.metric)
        self.learner.set_weights(weights)
        value = float(self.learner.evaluate(self.data.x, self.data.y, metric.name))
        return value if metric.higher_is_better else -value

    def evaluate(self, update_id: bytes, base_blob: bytes, delta_blob: bytes) -> VoteBody:
        """The vote body for one update: the metric of base + Δ and of the base."""
        key = sha256(base_blob)
        base = as_vector(base_blob)
        if key not in self._base_scores:
            self._base_scores[key] = self.score(base)
        candidate = (base.astype(np.float64) + as_vector(delta_blob)).astype(np.float32)
        return VoteBody(update_id, self.score(candidate), self._base_scores[key])


class TrainerCore:
    """One trainer: trains on its partition and builds signed update uploads."""

    def __init__(self, cfg: FLRunConfig, index: int, key: KeyPair, chain_id: str):
        self.cfg = cfg
        self.index = index
        self.key = key
        self.chain_id = chain_id
        self.data = trainer_data(cfg, index)
        self.learner = make_learner(cfg, cfg.seed)
        self.nonce = 0
        self._noise = np.random.default_rng([cfg.seed, 7, index])
        #: differential privacy (``[privacy]``), checked here, before any training
        self.privacy = TrainerPrivacy.from_config(cfg, index, len(self.data.x))

    def train(
        self,
        base: np.ndarray,
        version: int,
        *,
        steps: int | None = None,
        start: np.ndarray | None = None,
        rnd: int = 0,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Train from ``start`` (default: the base) and return (w_local, stats).

        The RNG seed is derived from (run seed, trainer, version, round) so every run with
        the same configuration trains identically.
        """
        t = self.cfg.training
        self.learner.set_weights(base if start is None else start)
        seed = int.from_bytes(
            sha256(f"{self.cfg.seed}/{self.index}/{version}/{rnd}".encode())[:4], "little"
        )
        if self.privacy is not None:
            self.privacy.ensure_budget(steps or t.steps or None)
            if self.privacy.params.mechanism == "dpsgd":
                return self._train_dpsgd(steps or t.steps, seed)
        if steps is not None:
            stats = self.learner.train(self.data.x, self.data.y, steps=steps, seed=seed)
        elif t.steps:
            stats = self.learner.train(self.data.x, self.data.y, steps=t.steps, seed=seed)
        else:
            stats = self.learner.train(self.data.x, self.data.y, epochs=t.epochs, seed=seed)
        return self.learner.get_weights(), stats

    def _train_dpsgd(self, steps: int, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
        from flobc.ml.dp import dpsgd_plan

        t = self.cfg.training
        _, n = dpsgd_plan(len(self.data.x), t.batch_size, t.epochs, steps)
        assert self.privacy is not None
        stats = self.privacy.train_dpsgd(
            self.learner,
            self.data.x,
            self.data.y,
            steps=n,
            lr=t.lr,
            batch_size=t.batch_size,
            optimizer=t.optimizer,
            seed=seed,
        )
        return self.learner.get_weights(), stats

    def delta(self, base: np.ndarray, local: np.ndarray) -> np.ndarray:
        """Δ = w_local - w_base, plus the experiment's noise for this trainer (if any)."""
        d = (local.astype(np.float64) - base.astype(np.float64)).astype(np.float32)
        std = self.cfg.noise_std(self.index)
        if std > 0:
            from flobc.ml.noise import add_update_noise

            d = add_update_noise(d, std, self._noise).astype(np.float32)
        return d

    def upload(
        self, delta: np.ndarray, base_version: int, local_steps: int = 0, nonce: int | None = None
    ) -> tuple[SignedTx, bytes]:
        """The signed ``fl.update`` transaction and the Δ blob it references (made
        differentially private first when ``[privacy]`` is on)."""
        dp = None
        if self.privacy is not None:
            delta, dp = self.privacy.release(delta, base_version, local_steps)
        blob = np.ascontiguousarray(delta, dtype="<f4").tobytes()
        self.nonce = max(self.nonce + 1, nonce or 0)
        body = UpdateBody(base_version, sha256(blob), len(self.data.x), local_steps, dp)
        return update_tx(self.chain_id, self.key, body, self.nonce), blob
