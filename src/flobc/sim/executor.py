"""Where the simulator runs its ML effects: in this process, or as Ray tasks.

The role cores decide *what* to compute (``Train``, ``Evaluate``); the simulator's effect
runner hands the work to an executor. Both executors call the same functions
(:meth:`TrainerCore.execute`, :meth:`Evaluator.score_tasks`) on the same inputs, and
those are pure functions of the configuration and the effect, so a run's results are
the same bytes whichever executor ran them; only the wall time differs.

* ``inprocess`` (default): everything runs here. A plain training (no privacy, no
  attack) of a stackable model (``logreg``, :func:`flobc.ml.batched_train.batchable`)
  is queued when its trainer begins its cycle and run when the first queued result is
  collected, at the end of its virtual training time: by then the trainers that learned
  of the same version have queued theirs, and :func:`~flobc.ml.batched_train.fit_many`
  trains them as one stack, each bit for bit as alone. ``batch_training=False`` trains
  each at once.
* ``ray``: an honest trainer's local training is a Ray task started when the trainer
  begins its cycle and collected when its virtual training time is up, so the trainings
  of one round run in parallel; a validator's block of updates is scored as a few Ray
  tasks, one per chunk. Ray is imported only when this executor is built (the ``ray``
  extra); ``address`` joins a running cluster (``ray start --head``), None starts or
  reuses a local one.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from flobc.encoding import sha256
from flobc.ml.batched_train import batchable, fit_many
from flobc.ml.learner_core import FitJob
from flobc.node_apps.fl.evaluator import Evaluator
from flobc.node_apps.fl.settings import FLRunConfig
from flobc.node_apps.fl.trainer_core import TrainerCore
from flobc.roles.effects import Evaluate, Evaluated, EvaluationTask, Scored, Train, TrainerInput
from flobc.sim.ledger import sim_key

__all__ = ["EXECUTORS", "Executor", "InProcessExecutor", "Pending", "RayExecutor", "make_executor"]


class Pending(Protocol):
    """A training in flight."""

    def result(self) -> TrainerInput: ...


class Executor(Protocol):
    """Runs the simulator's ML effects (see the module docstring)."""

    name: str
    #: whether the ML runs elsewhere (workers keep their own caches)
    remote: bool
    #: whether a training's result is collected when its virtual time is up, not at once
    deferred: bool

    def train(self, core: TrainerCore, effect: Train) -> Pending: ...

    def score(
        self, evaluator: Evaluator, effect: Evaluate, blob: Callable[[str], bytes | None]
    ) -> Evaluated: ...

    def close(self) -> None: ...


class _Done:
    __slots__ = ("value",)

    def __init__(self, value: TrainerInput) -> None:
        self.value = value

    def result(self) -> TrainerInput:
        return self.value


class _Queued:
    """A training waiting in :class:`InProcessExecutor`'s queue."""

    __slots__ = ("core", "executor", "value")

    def __init__(self, executor: InProcessExecutor, core: TrainerCore) -> None:
        self.executor, self.core = executor, core
        self.value: TrainerInput | None = None

    def result(self) -> TrainerInput:
        if self.value is None:
            self.executor.flush()
        assert self.value is not None
        return self.value


class InProcessExecutor:
    """Runs every effect here; stackable trainings as one batch (see the module
    docstring)."""

    name = "inprocess"
    remote = False

    def __init__(self, *, batch_training: bool = True) -> None:
        self.batch_training = batch_training
        self.deferred = batch_training
        self._queue: list[tuple[FitJob, _Queued]] = []
        #: how many trainings each stacked run took (what the batching achieved)
        self.batches: list[int] = []

    def train(self, core: TrainerCore, effect: Train) -> Pending:
        job = core.fit_job(effect) if self.batch_training else None
        if job is None or not batchable(job.learner):
            return _Done(core.execute(effect))
        pending = _Queued(self, core)
        self._queue.append((job, pending))
        return pending

    def flush(self) -> None:
        """Train every queued training, as stacks."""
        queue, self._queue = self._queue, []
        if not queue:
            return
        results = fit_many([job for job, _ in queue])
        for (_, pending), (local, stats) in zip(queue, results, strict=True):
            pending.value = pending.core.fitted(local, stats)
        self.batches.append(len(queue))

    def score(
        self, evaluator: Evaluator, effect: Evaluate, blob: Callable[[str], bytes | None]
    ) -> Evaluated:
        return evaluator.perform(effect, blob)

    def close(self) -> None:
        pass


# ------------------------------------------------------------------------ Ray worker side

#: per worker process: (config digest, role, index) -> TrainerCore / Evaluator, newest last
_CORES: OrderedDict[tuple[str, str, int], Any] = OrderedDict()
_MAX_CORES = 4096


def _cached(key: tuple[str, str, int], build: Callable[[], Any]) -> Any:
    core = _CORES.get(key)
    if core is None:
        core = _CORES[key] = build()
        while len(_CORES) > _MAX_CORES:
            _CORES.popitem(last=False)
    else:
        _CORES.move_to_end(key)
    return core


def remote_train(
    cfg: FLRunConfig, digest: str, index: int, chain_id: str, effect: Train
) -> TrainerInput:
    """Trainer ``index``'s ``Train`` effect, run in a Ray worker."""
    core = _cached(
        (digest, "trainer", index),
        lambda: TrainerCore(cfg, index, sim_key(index, cfg.seed, "trainer"), chain_id),
    )
    return core.execute(effect)  # type: ignore[no-any-return]


def remote_score(
    cfg: FLRunConfig,
    digest: str,
    index: int,
    tasks: list[EvaluationTask],
    blobs: dict[str, bytes | None],
) -> list[Scored]:
    """Validator ``index``'s scoring of a chunk of an ``Evaluate`` effect's tasks, in a
    Ray worker."""
    ev = _cached((digest, "validator", index), lambda: Evaluator(cfg, index))
    return ev.score_tasks(tasks, blobs.__getitem__)  # type: ignore[no-any-return]


# ------------------------------------------------------------------------ Ray driver side


class _RayPending:
    __slots__ = ("_ray", "_ref")

    def __init__(self, ray: Any, ref: Any) -> None:
        self._ray, self._ref = ray, ref

    def result(self) -> TrainerInput:
        return self._ray.get(self._ref)  # type: ignore[no-any-return]


class RayExecutor:
    """Trainings and scoring as Ray tasks (see the module docstring)."""

    name = "ray"
    remote = True
    deferred = True

    def __init__(
        self, cfg: FLRunConfig, *, address: str | None = None, min_chunk: int = 16
    ) -> None:
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError("the ray executor needs Ray: pip install 'flobc[ray]'") from exc
        if not ray.is_initialized():
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        self._ray = ray
        self.cfg = cfg
        self.min_chunk = min_chunk
        self._digest = sha256(cfg.model_dump_json().encode()).hex()
        self._cfg_ref = ray.put(cfg)
        self._train = ray.remote(remote_train)
        self._score = ray.remote(remote_score)
        self.workers = max(1, int(ray.available_resources().get("CPU", 1)))
        #: Ray tasks started: trainings, scoring chunks
        self.tasks = {"train": 0, "score": 0}

    def train(self, core: TrainerCore, effect: Train) -> Pending:
        if core.privacy is not None or core.attack is not None:
            # privacy accounting and colluders' replays keep state in this process
            return _Done(core.execute(effect))
        ref = self._train.remote(self._cfg_ref, self._digest, core.index, core.chain_id, effect)
        self.tasks["train"] += 1
        return _RayPending(self._ray, ref)

    def score(
        self, evaluator: Evaluator, effect: Evaluate, blob: Callable[[str], bytes | None]
    ) -> Evaluated:
        tasks = list(effect.tasks)
        if not tasks:
            return Evaluated(())
        size = max(self.min_chunk, math.ceil(len(tasks) / self.workers))
        refs = []
        for start in range(0, len(tasks), size):
            chunk = tasks[start : start + size]
            blobs = {h: blob(h) for task in chunk for h in task.blobs}
            refs.append(
                self._score.remote(self._cfg_ref, self._digest, evaluator.index, chunk, blobs)
            )
        self.tasks["score"] += len(refs)
        return Evaluated(tuple(s for part in self._ray.get(refs) for s in part))

    def close(self) -> None:
        """Leave the cluster running (it may be shared); drop this run's config."""
        self._cfg_ref = None


#: executor name -> factory(cfg, address)
EXECUTORS: dict[str, Callable[[FLRunConfig, str | None], Executor]] = {
    "inprocess": lambda cfg, address: InProcessExecutor(),
    "ray": lambda cfg, address: RayExecutor(cfg, address=address),
}


def make_executor(name: str, cfg: FLRunConfig, address: str | None = None) -> Executor:
    """The executor called ``name`` for a run of ``cfg``; a clear error for unknown names."""
    factory = EXECUTORS.get(name)
    if factory is None:
        raise ValueError(f"unknown executor {name!r}; choose from {sorted(EXECUTORS)}")
    return factory(cfg, address)
