"""The ML side of the two FL roles, independent of any transport.

* :class:`TrainerCore` — a trainer's model-training service: trains the pulled model on its
  private partition and produces the update Δ = w_local - w_base and its upload. It runs
  the compute effects of the sans-I/O :class:`~flobc.roles.trainer.Trainer`
  (:meth:`TrainerCore.execute`), and :func:`scheme_policy` is that trainer's policy.

The validator's side, the :class:`~flobc.node_apps.fl.evaluator.Evaluator`, shares the data
assignment. Both are driven by the HTTP runtime (:mod:`flobc.node_apps.fl.workers`) and by
the simulator.
Data assignment is seeded: validators' data is disjoint from trainers'; the test set is
separate from both.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from flobc.algorithms.privacy import Mechanism
from flobc.algorithms.sync import TrainerView, Work, next_work, scheme_class
from flobc.app.fl.txs import UpdateBody, update_tx
from flobc.chain.types import SignedTx
from flobc.crypto.keys import KeyPair
from flobc.encoding import sha256
from flobc.ml.learner_core import FitJob, run_fit
from flobc.ml.weights import decode_vector, encode_vector, weights_hash
from flobc.node_apps.fl.privacy import BudgetSpent, TrainerPrivacy
from flobc.node_apps.fl.settings import FLRunConfig
from flobc.roles.effects import (
    BuildUpdate,
    PrivacyResumed,
    ResumePrivacy,
    Stopped,
    Train,
    Trained,
    UpdateBuilt,
)
from flobc.roles.trainer import Policy, Progress


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
        # the part iid_fraction would give, drawn alone (not all k of them per trainer)
        parts = [partition.iid_fraction_part(len(ds.x_train), k, index, d.fraction, seed)]
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


def make_learner(cfg: FLRunConfig, seed: int, *, role: str = "observer", index: int = 0) -> Any:
    """The learner of one node. With ``[training] flower_client`` trainers (and, when
    ``[model] name = "flower"``, everyone) run the Flower client instead."""
    t = cfg.training
    scorer = None if cfg.model.name == "flower" else _zoo_learner(cfg, seed)
    if t.flower_client and (role == "trainer" or scorer is None):
        from flobc.integrations.flower import flower_learner
        from flobc.ml.train import TrainConfig

        n = cfg.network.validators if role == "validator" else cfg.network.trainers
        return flower_learner(
            t.flower_client,
            partition=index,
            partitions=n,
            role=role,
            scorer=scorer,
            config=TrainConfig(
                lr=t.lr,
                batch_size=t.batch_size,
                optimizer=t.optimizer,
                epochs=max(t.epochs, 1),
                seed=seed,
            ),
            run_config=t.flower_run_config,
            fit_config=t.flower_config,
        )
    return scorer


def _zoo_learner(cfg: FLRunConfig, seed: int) -> Any:
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


#: (cfg id, trainer, version, steps, round, base hash) -> (cfg, w_local) of honest trainings
#: replayed for colluders (see TrainerCore.replay_honest), oldest first
_REPLAYS: OrderedDict[tuple[Any, ...], tuple[FLRunConfig, np.ndarray]] = OrderedDict()
_MAX_REPLAYS = 32


def _diff(base: np.ndarray, local: np.ndarray) -> np.ndarray:
    return (local.astype(np.float64) - base.astype(np.float64)).astype(np.float32)


def as_vector(blob: bytes) -> np.ndarray:
    """A weights or Δ blob as a float32 vector (non-finite values kept: votes judge them)."""
    return decode_vector(blob, len(blob) // 4, require_finite=False)


def scheme_policy(cfg: FLRunConfig) -> Policy:
    """The :class:`~flobc.roles.trainer.Trainer`'s policy under ``cfg``'s sync scheme."""
    s = cfg.sync

    def policy(p: Progress) -> Work:
        view = TrainerView(
            s.scheme,
            p.latest_version,
            p.trained_version,
            p.submitted,
            p.extra_done,
            p.round_extended,
            p.submitted_in_extension,
        )
        return next_work(
            view, ssp_extra_steps=s.ssp_max_extra_steps, share_every_steps=s.share_every_steps
        )

    return policy


def follows_round(cfg: FLRunConfig) -> bool:
    """Whether ``cfg``'s sync scheme makes a trainer's next work depend on the open round
    (an SSP extension): only then must it re-read the round as blocks commit; under the
    other schemes a new version is the only news that changes what it does."""
    return scheme_class(cfg.sync.scheme).trainers_follow_round


class TrainerCore:
    """One trainer: trains on its partition and builds signed update uploads.

    A Byzantine trainer (``[[attacks]]`` in the config) poisons its partition here, once,
    with a data attack, and its update in :meth:`delta` with a model attack; the runtimes
    pass a :class:`~flobc.node_apps.fl.attacks.LedgerView` when :attr:`attack` asks for one.
    """

    def __init__(
        self,
        cfg: FLRunConfig,
        index: int,
        key: KeyPair,
        chain_id: str,
        subnet: str | None = None,
    ):
        from flobc.node_apps.fl.attacks import trainer_attack

        self.cfg = cfg
        #: the model subnetwork trained (None: the implicit only one), named in the tx kind
        self.subnet = subnet
        self.index = index
        self.key = key
        self.chain_id = chain_id
        self.attack = trainer_attack(cfg, index)
        self.data = trainer_data(cfg, index)
        if self.attack is not None:
            x, y = self.attack.poison_data(self.data.x, self.data.y, dataset(cfg).num_classes)
            self.data = DataSplit(x, y)
        self.learner = make_learner(cfg, cfg.seed, role="trainer", index=index)
        self.nonce = 0
        #: the paper's noise (training.noise_k) keeps its own stream, as before the attack
        #: library, so Experiment 2 reproduces its committed results bit for bit
        self._noise = np.random.default_rng([cfg.seed, 7, index])
        #: differential privacy (``[privacy]``), checked here, before any training
        self.privacy = TrainerPrivacy.from_config(cfg, index, len(self.data.x))
        #: the last train() call, replayed by :meth:`replay_honest` for colluders
        self._call: tuple[np.ndarray, int, int | None, bool, int] | None = None
        self._replayed: dict[int, np.ndarray] = {}
        self._peer_data: dict[int, DataSplit] = {}
        #: the honest Δ behind the last upload (equal to it for an honest trainer)
        self.last_honest: np.ndarray | None = None
        #: the statistics of the last training (loss, steps), for logs
        self.last_stats: dict[str, Any] = {}

    @property
    def wants_view(self) -> bool:
        """Whether this trainer's attack reads the ledger before building an update."""
        a = self.attack
        return a is not None and (a.wants_peers or a.wants_previous)

    @property
    def private(self) -> bool:
        """Whether this trainer releases under differential privacy (``[privacy]``)."""
        return self.privacy is not None

    def execute(
        self, effect: ResumePrivacy | Train | BuildUpdate, *, nonce: int | None = None
    ) -> PrivacyResumed | Trained | UpdateBuilt | Stopped:
        """Run one compute effect of the :class:`~flobc.roles.trainer.Trainer`; the same
        call in every runtime. ``nonce`` is the runtime's floor for the update's nonce."""
        try:
            if isinstance(effect, ResumePrivacy):
                assert self.privacy is not None
                self.privacy.resume(effect.spent.releases, effect.spent.epsilon)
                return PrivacyResumed()
            if isinstance(effect, Train):
                local, stats = self.train(
                    effect.base,
                    effect.version,
                    steps=effect.steps,
                    start=effect.start,
                    rnd=effect.rnd,
                )
                return self.fitted(local, stats)
            delta = self.delta(
                effect.base, effect.local, version=effect.version, rnd=effect.rnd, view=effect.view
            )
            tx, blob = self.upload(delta, effect.version, effect.local_steps, nonce=nonce)
            return UpdateBuilt(tx, blob)
        except BudgetSpent as exc:
            return Stopped(str(exc))

    def fit_job(self, effect: Train) -> FitJob | None:
        """The learner call :meth:`execute` makes for ``effect`` when that call is all it
        does (no privacy, no attack: nothing kept for later), so that a runner may train
        many trainers' calls at once (:func:`flobc.ml.batched_train.fit_many`) and hand
        each result to :meth:`fitted`; None otherwise."""
        if self.privacy is not None or self.attack is not None:
            return None
        start = effect.base if effect.start is None else effect.start
        return self._job(self.data, self.index, start, effect.version, effect.steps, effect.rnd)

    def fitted(self, local: np.ndarray, stats: dict[str, Any]) -> Trained:
        """What :meth:`execute` returns for a ``Train`` effect trained to ``local``."""
        self.last_stats = stats
        return Trained(local, int(stats.get("steps", 0)))

    def _job(
        self,
        data: DataSplit,
        index: int,
        start: np.ndarray,
        version: int,
        steps: int | None,
        rnd: int,
    ) -> FitJob:
        t = self.cfg.training
        seed = self._seed(index, version, rnd)
        if steps is None and t.steps:
            steps = t.steps
        epochs = t.epochs if steps is None else None
        return FitJob(self.learner, data.x, data.y, start, seed, steps=steps, epochs=epochs)

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
        self._call = (base, version, steps, start is not None, rnd)
        if start is None:
            self._replayed = {}
        t = self.cfg.training
        if self.privacy is not None:
            self.privacy.ensure_budget(steps or t.steps or None)
            if self.privacy.params.mechanism == Mechanism.DPSGD:
                self.learner.set_weights(base if start is None else start)
                return self._train_dpsgd(steps or t.steps, self._seed(self.index, version, rnd))
        start = base if start is None else start
        return run_fit(self._job(self.data, self.index, start, version, steps, rnd))

    def _seed(self, index: int, version: int, rnd: int) -> int:
        return int.from_bytes(
            sha256(f"{self.cfg.seed}/{index}/{version}/{rnd}".encode())[:4], "little"
        )

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

    def replay_honest(self, j: int) -> np.ndarray:
        """Trainer ``j``'s honest Δ for the last :meth:`train` call, by replaying its training
        (its partition, its seeds): how colluders know each other's honest updates.

        Replays of a fresh training are shared by the trainers of one process (the
        simulator's colluders), since the same inputs give the same bytes."""
        assert self._call is not None, "train() first"
        base, version, steps, continued, rnd = self._call
        key = self._replay_key(j)
        hit = _REPLAYS.get(key) if key is not None else None
        if hit is not None and hit[0] is self.cfg:
            self._replayed[j] = hit[1]
            return _diff(base, hit[1])
        if j not in self._peer_data:
            self._peer_data[j] = trainer_data(self.cfg, j)
        prev = self._replayed.get(j)
        start = base if not continued or prev is None else prev
        local, _ = run_fit(self._job(self._peer_data[j], j, start, version, steps, rnd))
        self._replayed[j] = local
        self._remember(key, local)
        return _diff(base, local)

    def _replay_key(self, j: int) -> tuple[Any, ...] | None:
        assert self._call is not None
        base, version, steps, continued, rnd = self._call
        if continued:
            return None
        digest = weights_hash(base)
        return (id(self.cfg), j, version, steps, rnd, digest)

    def _remember(self, key: tuple[Any, ...] | None, local: np.ndarray) -> None:
        if key is None:
            return
        _REPLAYS[key] = (self.cfg, local)
        while len(_REPLAYS) > _MAX_REPLAYS:
            _REPLAYS.popitem(last=False)

    def delta(
        self,
        base: np.ndarray,
        local: np.ndarray,
        *,
        version: int = 0,
        rnd: int = 0,
        view: Any = None,
    ) -> np.ndarray:
        """Δ = w_local - w_base, poisoned if this trainer attacks.

        ``view`` is the :class:`~flobc.node_apps.fl.attacks.LedgerView` of base ``version``
        (needed only when ``self.attack`` wants peers or the previous global model).
        """
        d = _diff(base, local)
        self.last_honest = d
        if self.attack is not None:
            if self._call is not None and self._call[0] is base:
                self._remember(self._replay_key(self.index), local)
            return self.attack.poison_update(base, d, version, rnd, self.replay_honest, view)
        std = self.cfg.noise_std(self.index)
        if std > 0:  # the paper's noisy trainers: the ``gaussian`` attack on its own stream
            from flobc.algorithms.attacks import AttackContext, gaussian

            ctx = AttackContext(base, d, version, rnd, self._noise, trainer=self.index)
            d = gaussian(std)(ctx)
        return d

    def upload(
        self, delta: np.ndarray, base_version: int, local_steps: int = 0, nonce: int | None = None
    ) -> tuple[SignedTx, bytes]:
        """The signed ``fl.update`` transaction and the Δ blob it references (made
        differentially private first when ``[privacy]`` is on)."""
        dp = None
        if self.privacy is not None:
            delta, dp = self.privacy.release(delta, base_version, local_steps)
        blob = encode_vector(delta)
        self.nonce = max(self.nonce + 1, nonce or 0)
        body = UpdateBody(base_version, sha256(blob), len(self.data.x), local_steps, dp)
        return update_tx(self.chain_id, self.key, body, self.nonce, self.subnet), blob
