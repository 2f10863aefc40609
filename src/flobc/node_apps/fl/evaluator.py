"""A validator's training-validation service: the measures of one vote (paper §III.B).

The validation rule (``flobc.algorithms.validation``) decides on-chain from the measures
every validator computes here, off-chain, on its private validation slice:

* ``score`` / ``base_score`` — the network's metric (accuracy by default) of base + Δ and
  of the base, as in the paper;
* ``loss_gain`` / ``loss_gain_se`` — the mean per-sample cross-entropy gain of
  base + s·Δ over the base, s being the update's share of the aggregate, and its paired
  standard error (the sampling noise of this validator's slice);
* ``cosine`` / ``norm_ratio`` — direction and size of Δ against the validator's own
  reference step, trained from the same base for as many local steps as the trainer
  declared (FLTrust's root-dataset step: the mean of two steps, one on each half of the
  slice), and ``reference_agreement``, the cosine of those two steps on different data,
  which says how much agreement honest work can show at this point;
* ``last_step_cosine`` — cos(Δ, last global step), which exposes free riders;
* ``update_norm`` / ``dimension`` — ‖Δ‖ and the model size, which the rule needs to judge
  an update against the noise its trainer declared (differential privacy);
* ``dp_cosine_z`` / ``dp_reference_cosine_z`` — for a DP-SGD update only (0 otherwise):
  cos·√d of Δ and of the validator's own DP-SGD step at the declared clip and σ (the
  network's batch, lr and optimizer, the update's steps) against a clean step; the DP
  step trains on the even half of the slice and the clean step on the odd half, so
  neither saw the other's data, as a trainer's data is unseen by both
  (:meth:`Evaluator.dp_reference`).

A Byzantine validator (``[[byzantine_validators]]`` in the configuration) computes the
honest vote and then rewrites it (:mod:`flobc.algorithms.attacks.validators`).

:meth:`Evaluator.perform` runs the ``Evaluate`` effect (a batch of updates) of the
sans-I/O :class:`~flobc.roles.evaluator.Evaluator`, the same call in the simulator and in
processes.

Base-model outputs, reference steps and the last global step are cached per base version
(the two latest), so a round costs one reference training and two forward passes per
update; :meth:`Evaluator.prepare` (the core's ``Prepare`` effect) fills these caches for a
released version before its updates arrive, which changes when the work happens and no
vote. Under the ``paper`` and ``none`` rules votes carry the scores alone (one forward
pass per update, for the record).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from flobc.algorithms.attacks.validators import vote_behaviour
from flobc.algorithms.validation import rule_from_name
from flobc.algorithms.validation.noise import DPSGD
from flobc.app.fl.app import vote_measures
from flobc.app.fl.txs import VoteBody
from flobc.encoding import sha256
from flobc.ml.batched import predict_many
from flobc.ml.metrics import get_metric, log_softmax
from flobc.node_apps.fl.settings import FLRunConfig
from flobc.node_apps.fl.trainer_core import as_vector, make_learner, validator_data
from flobc.roles.effects import (
    Evaluate,
    Evaluated,
    EvaluationTask,
    Prepare,
    Scored,
    VersionReleased,
)

#: Measures every vote carries as its own fields.
SCORES = ("score", "base_score")
#: Base versions whose outputs and reference steps are kept: the released one being
#: prepared and the one before it, whose late updates may still be scored.
CACHED_BASES = 2


def _base_of(key: str | tuple[str, object]) -> str:
    return key if isinstance(key, str) else key[0]


def _keep(cache: dict[Any, Any], key: str | tuple[str, Any], value: object) -> None:
    """``cache[key] = value``, then drop the entries of all but the newest
    :data:`CACHED_BASES` bases (a key is its base's hash, or a tuple led by it)."""
    cache[key] = value
    bases = list(dict.fromkeys(_base_of(k) for k in cache))
    old = set(bases[: max(0, len(bases) - CACHED_BASES)])
    for k in [k for k in cache if _base_of(k) in old]:
        del cache[k]


def release_since(versions: Sequence[Any], seen: int) -> VersionReleased | None:
    """The evaluator core's input for the newest of the ledger's model ``versions`` (its
    ``VersionInfo`` list) when there are more than ``seen``; None otherwise."""
    if len(versions) <= seen:
        return None
    latest = versions[-1]
    previous = versions[-2].weights if len(versions) > 1 else None
    return VersionReleased(latest.version, latest.weights, previous)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """cos(a, b) in float64; 0 when either vector is zero."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    na, nb = float(np.linalg.norm(a64)), float(np.linalg.norm(b64))
    if na == 0.0 or nb == 0.0 or not (math.isfinite(na) and math.isfinite(nb)):
        return 0.0
    return float(np.dot(a64, b64) / (na * nb))


def per_sample_loss(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of every sample (float64)."""
    logp = log_softmax(logits)
    return -logp[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)]


class Evaluator:
    """Scores updates for validator ``index`` of a network configured by ``cfg``."""

    def __init__(self, cfg: FLRunConfig, index: int):
        self.cfg = cfg
        self.index = index
        self.data = validator_data(cfg, index)
        self.learner = make_learner(cfg, cfg.seed, role="validator", index=index)
        rule_name, params = cfg.validation_rule()
        #: what votes carry beyond the metric (``score``/``base_score`` always go)
        self.measures = tuple(
            m for m in rule_from_name(rule_name, **params).measures if m not in SCORES
        )
        self.metric = get_metric(cfg.training.metric)
        behaviour = cfg.validator_behaviour(index)
        self.behaviour = behaviour
        self._forge = vote_behaviour(behaviour) if behaviour else None
        self._base: dict[str, tuple[float, np.ndarray]] = {}
        self._reference: dict[tuple[str, int], tuple[np.ndarray, float]] = {}
        self._last_step: dict[tuple[str, str], np.ndarray] = {}
        self._dp_reference: dict[tuple[str, float, float, int], tuple[np.ndarray, float]] = {}
        #: honest vote bodies per base and task, for the bases the other caches keep: a
        #: task scored ahead (its update still pending, see ``workers``) is not scored again
        self._bodies: dict[str, dict[EvaluationTask, VoteBody]] = {}
        #: tasks the last :meth:`evaluate_many` call scored (the others it remembered)
        self.last_scored = 0

    # ------------------------------------------------------------------ scoring

    def _forward(self, weights: np.ndarray) -> tuple[float, np.ndarray]:
        """(oriented metric, per-sample losses) of ``weights`` on the validation slice."""
        return self._forward_many([weights])[0]

    def _forward_many(self, weights: list[np.ndarray]) -> list[tuple[float, np.ndarray]]:
        """:meth:`_forward` of each vector, in one stacked pass where the model allows it
        (:func:`flobc.ml.batched.predict_many`); a vector's result never depends on the
        others in the batch."""
        # a custom ``eval_fn``, or a learner that can only score itself (a Flower client
        # without a FLoBC model), goes through ``evaluate``, one vector at a time
        if getattr(self.learner, "eval_fn", None) is not None or getattr(
            self.learner, "own_evaluation", False
        ):
            return [self._forward_plugin(w) for w in weights]
        y = self.data.y
        out = []
        for logits in predict_many(self.learner, weights, self.data.x):
            value = float(self.metric(logits, np.asarray(y)))
            score = value if self.metric.higher_is_better else -value
            losses = per_sample_loss(logits, y) if self.measures else np.zeros(0)
            out.append((score, losses))
        return out

    def _forward_plugin(self, weights: np.ndarray) -> tuple[float, np.ndarray]:
        """Score through the learner's own ``evaluate``, one vector at a time."""
        self.learner.set_weights(weights)
        value = float(self.learner.evaluate(self.data.x, self.data.y, self.metric.name))
        score = value if self.metric.higher_is_better else -value
        if not self.measures:
            return score, np.zeros(0)
        return score, per_sample_loss(self.learner.predict(self.data.x), self.data.y)

    def score(self, weights: np.ndarray) -> float:
        """The metric of ``weights``, oriented so higher is better (loss is negated)."""
        return self._forward(weights)[0]

    def _base_forward(self, key: str, base: np.ndarray) -> tuple[float, np.ndarray]:
        if key not in self._base:
            _keep(self._base, key, self._forward(base))
        return self._base[key]

    def _global_step(self, key: str, base: np.ndarray, previous: str, prev: bytes) -> np.ndarray:
        """base - previous version in float64 (the last global step), cached per base."""
        if (key, previous) not in self._last_step:
            step = base.astype(np.float64) - as_vector(prev).astype(np.float64)
            _keep(self._last_step, (key, previous), step)
        return self._last_step[(key, previous)]

    def prepare(self, effect: Prepare, blob: Callable[[str], bytes | None]) -> bool:
        """Run the ``Prepare`` effect: fill the caches scoring updates built on
        ``effect.base`` reads (see the module docstring); False when the base's blob is
        missing here (then nothing is prepared). The caches hold exactly what scoring
        would compute on demand, so prepared or not, every vote is the same bytes."""
        data = blob(effect.base)
        if data is None:
            return False
        base = as_vector(data)
        self._base_forward(effect.base, base)
        if not self.measures:
            return True
        self.reference_step(effect.base, base, effect.local_steps or self._default_steps())
        prev = blob(effect.previous) if effect.previous else None
        if effect.previous and prev is not None:
            self._global_step(effect.base, base, effect.previous, prev)
        return True

    def reference_step(self, key: str, base: np.ndarray, steps: int) -> tuple[np.ndarray, float]:
        """The validator's own update from ``base`` and how well two honest steps agree.

        Two runs of ``steps`` local steps, one on each half of its slice: their mean is the
        reference, their cosine the agreement honest updates trained on *different* data
        can be expected to reach (high while the model learns fast, low near a plateau),
        so the direction test scales with the training phase. Two runs on the same data
        would agree far more than trainers with their own data do.
        """
        steps = max(1, steps)
        if (key, steps) not in self._reference:
            runs = []
            for k in range(2):
                tag = f"ref/{self.cfg.seed}/{self.index}/{key}/{k}".encode()
                half = slice(k, None, 2) if len(self.data.x) > 1 else slice(None)
                self.learner.set_weights(base)
                self.learner.train(
                    self.data.x[half],
                    self.data.y[half],
                    steps=steps,
                    seed=int.from_bytes(sha256(tag)[:4]),
                )
                runs.append(self.learner.get_weights().astype(np.float64) - base)
            mean = ((runs[0] + runs[1]) / 2).astype(np.float32)
            _keep(self._reference, (key, steps), (mean, cosine(runs[0], runs[1])))
        return self._reference[(key, steps)]

    def dp_reference(
        self, key: str, base: np.ndarray, steps: int, clip: float, sigma: float
    ) -> tuple[np.ndarray, float]:
        """(clean step r, cos(DP step, r)·√d) for a DP-SGD claim (C = ``clip``, σ = ``sigma``).

        An honest DP-SGD update's cos·√d against r is N(μ, ≈1), μ set by how much signal
        survives the noise; this validator's own DP-SGD step from ``base`` at the same
        noise, batch, lr, optimizer and steps draws from (nearly) the same law, so the rule
        can compare the two whatever μ is (:mod:`flobc.algorithms.validation.noise`); when
        its half slice is smaller than the batch it samples with replacement to the batch,
        so its noise per step is a trainer's σC/B, not σC/n. The
        DP step trains on the even half of the slice, r on the odd half: a step on r's own
        data would agree with r more than a trainer's can. Cached per (version, C, σ,
        steps), for the bases the other caches keep; seeded per (run, validator, version,
        claim).
        """
        from flobc.ml.dp import train_dpsgd

        steps = max(1, steps)
        k = (key, float(clip), float(sigma), steps)
        if k not in self._dp_reference:
            if getattr(self.learner, "model", None) is None:
                raise ValueError("a DP-SGD reference step needs a torch learner (model.name)")
            x, y = self.data.x, self.data.y
            whole = slice(None)
            halves = (slice(0, None, 2), slice(1, None, 2)) if len(x) > 1 else (whole, whole)
            dp_half, clean_half = halves
            tag = f"dpref/{self.cfg.seed}/{self.index}/{key}/{steps}"
            self.learner.set_weights(base)
            self.learner.train(
                x[clean_half], y[clean_half], steps=steps, seed=_seed(f"{tag}/clean")
            )
            clean = self.learner.get_weights().astype(np.float64) - base
            t = self.cfg.training
            self.learner.set_weights(base)
            train_dpsgd(
                self.learner,
                x[dp_half],
                y[dp_half],
                steps=steps,
                lr=t.lr,
                batch_size=t.batch_size,
                optimizer=t.optimizer,
                seed=_seed(f"{tag}/{clip!r}/{sigma!r}"),
                clip=clip,
                noise_multiplier=sigma,
                replacement=True,
            )
            dp_step = self.learner.get_weights().astype(np.float64) - base
            value = (clean.astype(np.float32), cosine(dp_step, clean) * math.sqrt(clean.size))
            _keep(self._dp_reference, k, value)
        return self._dp_reference[k]

    def _dp_measures(
        self, task: EvaluationTask, base: np.ndarray, delta: np.ndarray, steps: int
    ) -> dict[str, float]:
        """``dp_cosine_z`` and ``dp_reference_cosine_z``: 0 unless ``task`` declares DP-SGD."""
        if task.dp is None or task.dp[0] != DPSGD:
            return {"dp_cosine_z": 0.0, "dp_reference_cosine_z": 0.0}
        clean, ref_z = self.dp_reference(task.base, base, steps, task.dp[1], task.dp[2])
        return {
            "dp_cosine_z": cosine(delta, clean) * math.sqrt(delta.size),
            "dp_reference_cosine_z": ref_z,
        }

    def _default_steps(self) -> int:
        t = self.cfg.training
        if t.steps:
            return t.steps
        return max(1, t.epochs) * math.ceil(len(self.data.x) / max(1, t.batch_size))

    def evaluate(self, task: EvaluationTask, blob: Callable[[str], bytes]) -> VoteBody:
        """The vote body for ``task``; ``blob(hex)`` returns a hash-verified blob."""
        return self.evaluate_many([task], blob)[0]

    def evaluate_many(
        self, tasks: list[EvaluationTask], blob: Callable[[str], bytes]
    ) -> list[VoteBody]:
        """:meth:`evaluate` of each task, with every candidate's forward pass in one batch:
        the same vote bodies, bit for bit, as one call per task. A task met before (the
        same update, base, share and claims) is answered from memory: a vote body is a
        function of its task and this validator's data."""
        known = {t: b for t in tasks if (b := self._bodies.get(t.base, {}).get(t)) is not None}
        todo = list(dict.fromkeys(t for t in tasks if t not in known))
        self.last_scored = len(todo)
        for task, body in zip(todo, self._evaluate_new(todo, blob), strict=True):
            known[task] = body
            if task.base not in self._bodies:
                _keep(self._bodies, task.base, {})
            self._bodies.get(task.base, {})[task] = body
        return [known[t] for t in tasks]

    def knows(self, task: EvaluationTask) -> bool:
        """Whether ``task``'s vote body is remembered (scored ahead): then scoring it reads
        no blob."""
        return task in self._bodies.get(task.base, {})

    def _evaluate_new(
        self, tasks: list[EvaluationTask], blob: Callable[[str], bytes]
    ) -> list[VoteBody]:
        loaded = []
        candidates: list[np.ndarray] = []
        for task in tasks:
            base = as_vector(blob(task.base))
            delta = as_vector(blob(task.delta))
            share = min(1.0, max(task.share, 0.0)) or 1.0
            candidates.append((base.astype(np.float64) + delta).astype(np.float32))
            if self.measures and share != 1.0:
                candidates.append((base.astype(np.float64) + share * delta).astype(np.float32))
            loaded.append((task, base, delta, share))
        forwards = iter(self._forward_many(candidates))
        out = []
        for task, base, delta, share in loaded:
            score, full_losses = next(forwards)
            losses = full_losses if not self.measures or share == 1.0 else next(forwards)[1]
            out.append(self._vote(task, blob, base, delta, score, losses))
        return out

    def _vote(
        self,
        task: EvaluationTask,
        blob: Callable[[str], bytes],
        base: np.ndarray,
        delta: np.ndarray,
        score: float,
        losses: np.ndarray,
    ) -> VoteBody:
        """One vote body from the candidate's forward pass (``losses``: of base + s·Δ)."""
        base_score, base_losses = self._base_forward(task.base, base)
        if not self.measures:
            return VoteBody(task.update_id, score, base_score)
        gains = base_losses - losses
        n = len(gains)
        se = float(np.std(gains, ddof=1) / math.sqrt(n)) if n > 1 else 0.0
        steps = task.local_steps or self._default_steps()
        ref, agreement = self.reference_step(task.base, base, steps)
        ref_norm = float(np.linalg.norm(ref.astype(np.float64)))
        norm = float(np.linalg.norm(delta.astype(np.float64)))
        last = 0.0
        if task.previous is not None:
            step = self._global_step(task.base, base, task.previous, blob(task.previous))
            last = cosine(delta, step)
        measures = {
            "loss_gain": float(np.mean(gains)),
            "loss_gain_se": se,
            "cosine": cosine(delta, ref),
            "reference_agreement": agreement,
            "norm_ratio": norm / ref_norm if ref_norm > 0 else (0.0 if norm == 0 else 1e9),
            "last_step_cosine": last,
            "update_norm": norm,
            "dimension": float(delta.size),
            **self._dp_measures(task, base, delta, steps),
        }
        clean = {k: (v if math.isfinite(v) else -1e9) for k, v in measures.items()}
        return VoteBody(task.update_id, score, base_score, clean)

    def votes(self, task: EvaluationTask, blob: Callable[[str], bytes]) -> list[VoteBody]:
        """What this validator sends for ``task``: its honest vote, or what its Byzantine
        behaviour makes of it (none, one, or two conflicting votes for different peers)."""
        return self._forged(self.evaluate(task, blob))

    def _forged(self, honest: VoteBody) -> list[VoteBody]:
        if self._forge is None:
            return [honest]
        rng = np.random.default_rng([self.cfg.seed, self.index, *honest.update_id[:8]])
        out = []
        for m in self._forge(vote_measures(honest), rng):
            score, base_score = m.pop("score"), m.pop("base_score")
            out.append(VoteBody(honest.update_id, score, base_score, m))
        return out

    def perform(self, effect: Evaluate, blob: Callable[[str], bytes | None]) -> Evaluated:
        """Run the ``Evaluate`` effect, its tasks scored in one batch; ``blob(hex)``
        returns a hash-verified blob, or None when this validator lacks it (then it does
        not vote on the tasks reading it)."""
        return Evaluated(tuple(self.score_tasks(effect.tasks, blob)))

    def score_tasks(
        self, tasks: Sequence[EvaluationTask], blob: Callable[[str], bytes | None]
    ) -> list[Scored]:
        """Each task's vote bodies, in order: the same bodies, bit for bit, whether the
        tasks are scored together, in chunks or one at a time."""
        blobs: dict[str, bytes | None] = {}
        ready, missing = [], set()
        for task in tasks:
            if not self.knows(task):  # a remembered task was scored with its blobs here
                for h in task.blobs:
                    if h not in blobs:
                        blobs[h] = blob(h)
                if any(blobs[h] is None for h in task.blobs):
                    missing.add(task.update_id)
                    continue
            ready.append(task)
        bodies = iter(self.evaluate_many(ready, blobs.__getitem__))  # type: ignore[arg-type]
        out = []
        for task in tasks:
            if task.update_id in missing:
                out.append(Scored(task.update_id, None))
            else:
                out.append(Scored(task.update_id, tuple(self._forged(next(bodies)))))
        return out


def _seed(tag: str) -> int:
    return int.from_bytes(sha256(tag.encode())[:4])


__all__ = [
    "SCORES",
    "EvaluationTask",
    "Evaluator",
    "cosine",
    "per_sample_loss",
    "release_since",
]
