"""Preparing a released version (base outputs, reference step, last global step) before
its updates arrive changes when the work happens, never a vote: the same bodies, bit for
bit, as scoring an unprepared evaluator; a right guess of the local steps leaves no
training for the updates' scoring, a wrong one trains on demand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from flobc.encoding import sha256
from flobc.ml.weights import encode_vector
from flobc.node_apps.fl.evaluator import Evaluator, release_since
from flobc.node_apps.fl.trainer_core import make_learner
from flobc.roles.effects import Evaluate, EvaluationTask, Prepare, VersionReleased
from flobc.sim.fl_fixtures import tiny_config

STEPS = 3


def _round(cfg: Any, k: int) -> tuple[str, str, list[EvaluationTask], dict[str, bytes]]:
    """A base, its previous version and ``k`` updates on the base declaring ``STEPS``."""
    base = make_learner(cfg, cfg.seed).get_weights()
    rng = np.random.default_rng(5)
    blobs: dict[str, bytes] = {}

    def put(vec: np.ndarray) -> str:
        blob = encode_vector(vec.astype(np.float32))
        blobs[sha256(blob).hex()] = blob
        return sha256(blob).hex()

    b, prev = put(base), put(base - rng.normal(0, 0.05, base.shape))
    tasks = [
        EvaluationTask(
            sha256(f"u{i}".encode()),
            b,
            put(rng.normal(0, 0.05 * (1 + i % 3), base.shape)),
            prev,
            local_steps=STEPS,
            share=0.25,
        )
        for i in range(k)
    ]
    return b, prev, tasks, blobs


class _CountingTrains:
    """Counts the evaluator learner's trainings (reference steps)."""

    def __init__(self, ev: Evaluator) -> None:
        self.calls = 0
        train = ev.learner.train

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return train(*args, **kwargs)

        ev.learner.train = counted  # type: ignore[method-assign]


@pytest.mark.parametrize(
    "overrides",
    [{}, {"validation.rule": "paper"}, {"model.name": "small-cnn"}],
    ids=["robust-logreg", "paper-logreg", "robust-cnn"],
)
@pytest.mark.parametrize("predicted", [STEPS, STEPS + 2, 0], ids=["right", "wrong", "config"])
def test_prepared_votes_equal_unprepared(overrides: dict[str, Any], predicted: int) -> None:
    cfg = tiny_config(**overrides)
    b, prev, tasks, blobs = _round(cfg, 4)
    plain = Evaluator(cfg, 1).perform(Evaluate(tuple(tasks)), blobs.get)
    ev = Evaluator(cfg, 1)
    assert ev.prepare(Prepare(1, b, prev, predicted), blobs.get)
    trains = _CountingTrains(ev)
    prepared = ev.perform(Evaluate(tuple(tasks)), blobs.get)
    assert prepared == plain
    assert all(s.votes for s in prepared.scored)
    if ev.measures:  # the reference (two trainings) is computed only on a wrong guess
        guessed = predicted or ev._default_steps()
        assert trains.calls == (0 if guessed == STEPS else 2)
    else:
        assert trains.calls == 0


def test_prepare_without_the_base_blob_prepares_nothing() -> None:
    cfg = tiny_config()
    b, prev, tasks, blobs = _round(cfg, 1)
    ev = Evaluator(cfg, 0)
    assert not ev.prepare(Prepare(1, b, prev, STEPS), lambda h: None)
    trains = _CountingTrains(ev)
    assert ev.perform(Evaluate(tuple(tasks)), blobs.get) == Evaluator(cfg, 0).perform(
        Evaluate(tuple(tasks)), blobs.get
    )
    assert trains.calls == 2


def test_late_updates_of_the_previous_base_keep_their_cache() -> None:
    """Two bases are cached: preparing the next version does not evict the current one,
    whose late updates are still scored without retraining."""
    cfg = tiny_config()
    b, prev, tasks, blobs = _round(cfg, 2)
    ev = Evaluator(cfg, 0)
    ev.prepare(Prepare(1, b, prev, STEPS), blobs.get)
    ev.prepare(Prepare(0, prev, None, STEPS), blobs.get)  # another base released
    trains = _CountingTrains(ev)
    assert ev.perform(Evaluate(tuple(tasks)), blobs.get) == Evaluator(cfg, 0).perform(
        Evaluate(tuple(tasks)), blobs.get
    )
    assert trains.calls == 0


class _V:
    def __init__(self, version: int, weights: str) -> None:
        self.version, self.weights = version, weights


def test_release_since_names_the_newest_version_and_its_predecessor() -> None:
    versions = [_V(0, "w0"), _V(1, "w1"), _V(2, "w2")]
    assert release_since(versions, 3) is None
    assert release_since(versions, 1) == VersionReleased(2, "w2", "w1")
    assert release_since(versions[:1], 0) == VersionReleased(0, "w0", None)


def test_the_http_runner_sees_each_release_once() -> None:
    """What the validator process feeds its evaluator core after a commit: the newest
    version once, when the ledger holds more versions than it has seen."""
    from types import SimpleNamespace

    from flobc.node_apps.fl.workers import _released

    app = SimpleNamespace(state=SimpleNamespace(versions=[_V(0, "w0")]))
    seen = [0]
    assert _released(app, None, seen) == VersionReleased(0, "w0", None)
    assert _released(app, None, seen) is None
    app.state.versions += [_V(1, "w1"), _V(2, "w2")]
    assert _released(app, None, seen) == VersionReleased(2, "w2", "w1")
    assert seen == [3]
