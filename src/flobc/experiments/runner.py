"""Run one FL configuration in the simulator and record what the experiments plot.

:func:`run_sim` drives a :class:`~flobc.sim.fl_network.SimFLNetwork` (real validators,
real ML, virtual time) until it has released ``rounds`` model versions (and, optionally,
until a virtual time budget has passed), then scores every released version on the
held-out test set. The result is a :class:`RunResult`, the same shape the processes
runtime (:mod:`flobc.experiments.processes`) returns.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from flobc.node_apps.fl.settings import FLRunConfig
from flobc.sim.executor import Executor
from flobc.sim.fl_network import SimFLNetwork, SimTiming
from flobc.weights_codec import vector_view


@dataclass
class VersionPoint:
    """One released model version."""

    version: int
    accuracy: float
    #: seconds since the network started (virtual in the simulator, wall with processes)
    time_s: float
    reason: str
    accepted: int
    rejected: int
    aggregated: int  # updates averaged into this version
    #: trust score per trainer index ("0", "1", ...) after this version
    scores: dict[str, float]


@dataclass
class RunResult:
    """Everything an experiment keeps of one run."""

    label: str
    runtime: str
    versions: list[VersionPoint]
    #: every validator served the same weights hash for every version
    agreed: bool
    wall_s: float
    bytes: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def accuracies(self) -> list[float]:
        return [v.accuracy for v in self.versions]

    def best(self) -> tuple[float, int]:
        """(max accuracy, the first version reaching it)."""
        accs = self.accuracies
        i = int(np.argmax(accs))
        return accs[i], self.versions[i].version

    def round_times(self) -> list[float]:
        """Seconds between consecutive versions."""
        t = [v.time_s for v in self.versions]
        return [b - a for a, b in itertools.pairwise(t)]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Scorer:
    """Test-set accuracy of weight vectors, cached by weights hash."""

    def __init__(self, cfg: FLRunConfig):
        from flobc.node_apps.fl.trainer_core import make_learner, test_data

        self.learner = make_learner(cfg, cfg.seed)
        self.test = test_data(cfg)
        self._cache: dict[str, float] = {}

    def __call__(self, key: str, blob: bytes) -> float:
        if key not in self._cache:
            self.learner.set_weights(vector_view(blob))
            self._cache[key] = round(float(self.learner.evaluate(self.test.x, self.test.y)), 6)
        return self._cache[key]


def make_network(
    cfg: FLRunConfig, timing: SimTiming, executor: Executor | None = None
) -> SimFLNetwork:
    """A simulated FL network whose validators broadcast to validators only.

    The simulated trainers talk to their validator in-process, but they are nodes of the
    cluster, and by default a node's broadcasts reach every other node: each consensus and
    gossip message (an update's 2.4 MB blob included) was also sent to every trainer, which
    ignores it, inflating the measured traffic by (V-1+T)/(V-1) and the simulation time.
    No trainer ever answers, so runs whose rounds end when every trainer is decided release
    the same versions either way; with deadlines, event order (hence timing) can shift by a
    few milliseconds.
    """
    net = SimFLNetwork(cfg, timing=timing, executor=executor)
    ids = net.ledger.ids
    for nid in ids:
        net.ledger.cluster.set_peers(nid, [p for p in ids if p != nid])
    return net


def run_sim(
    label: str,
    cfg: FLRunConfig,
    timing: SimTiming,
    rounds: int,
    *,
    min_time_s: float = 0.0,
    max_time_s: float | None = None,
    measure: Callable[[SimFLNetwork], dict[str, Any]] | None = None,
    executor: Executor | None = None,
    progress: Callable[[SimFLNetwork], None] | None = None,
) -> RunResult:
    """Run until ``rounds`` versions are out and ``min_time_s`` virtual seconds have passed.

    ``max_time_s`` (virtual) bounds the run; by default 20 x the time the slowest trainer
    needs for one round's training, per round. ``measure(network)`` adds what an
    experiment needs beyond the common record to ``extra`` (e.g. a backdoor's success).
    ``executor`` runs the ML effects (:mod:`flobc.sim.executor`; default in-process): it
    changes the wall time, never the result. ``progress(network)`` is called after every
    100 ms of virtual time (e.g. to log a long run).
    """
    started = time.perf_counter()
    net = make_network(cfg, timing, executor)
    c = net.ledger.cluster
    t0 = c.now
    if max_time_s is None:
        slowest = max((cfg.speed_of(i) for i in range(cfg.network.trainers)), default=1.0)
        per_round = timing.train_ms_per_epoch * max(cfg.training.epochs, 1) * slowest
        max_time_s = max(60.0, 20 * rounds * (per_round + timing.eval_ms) / 1000)
    end = t0 + int(max_time_s * 1000)
    while c.now < end:
        if net.version(0) >= rounds and c.now - t0 >= min_time_s * 1000:
            break
        c.run_for(100)
        if progress is not None:
            progress(net)
    result = collect(label, net, cfg, t0)
    result.wall_s = round(time.perf_counter() - started, 2)
    result.extra["virtual_s"] = (c.now - t0) / 1000
    result.extra["timing"] = asdict(timing)
    result.extra["executor"] = net.executor.name
    if measure is not None:
        result.extra.update(measure(net))
    return result


def _by_index(scores: dict[str, float], index: dict[str, str]) -> dict[str, float]:
    """Trust scores keyed by trainer index, in index order."""
    named = {index.get(t, t): round(s, 6) for t, s in scores.items()}
    return dict(sorted(named.items(), key=lambda kv: (len(kv[0]), kv[0])))


def collect(label: str, net: SimFLNetwork, cfg: FLRunConfig, t0_ms: int) -> RunResult:
    """Read the versions, agreement and traffic of a finished simulated run."""
    ledger = net.ledger
    st = ledger.node(0).app.state  # type: ignore[attr-defined]
    index = {k.node_id: str(i) for i, k in enumerate(net.trainer_keys)}
    genesis_ms = ledger.genesis.genesis_time_ms
    scorer = Scorer(cfg)
    agreed = True
    points = []
    for v in st.versions:
        for i in ledger.up():
            other = ledger.node(i).app.state.versions  # type: ignore[attr-defined]
            if v.version < len(other) and other[v.version].weights != v.weights:
                agreed = False
        points.append(
            VersionPoint(
                version=v.version,
                accuracy=scorer(v.weights, net.blob(v.weights)),
                time_s=(v.time_ms - genesis_ms) / 1000,
                reason=v.reason,
                accepted=v.accepted,
                rejected=v.rejected,
                aggregated=len(v.updates),
                scores=_by_index(v.scores, index),
            )
        )
    model_bytes = len(net.blob(st.versions[0].weights))
    uploads = sum(len(t.record.submissions) for t in net.trainers)
    pulls = sum(len({ver for _, ver in t.record.submissions}) for t in net.trainers)
    total = ledger.cluster.stats.total()
    traffic = {
        "model_bytes": model_bytes,
        "validator_network_bytes": total.bytes_sent,
        "trainer_upload_bytes": uploads * model_bytes,
        "trainer_download_bytes": pulls * model_bytes,
        "uploads": uploads,
        "model_pulls": pulls,
    }
    offset = net.clock_offset_ms + t0_ms  # trainers' clocks -> run time
    per_trainer = {
        index[t.node_id]: [[ms - offset, ver] for ms, ver in t.record.submissions]
        for t in net.trainers
    }
    return RunResult(
        label=label,
        runtime="sim",
        versions=points,
        agreed=agreed,
        wall_s=0.0,
        bytes=traffic,
        extra={
            "submissions": per_trainer,
            "decisions": decisions(st, index),
            **_privacy(st, index),
        },
    )


def decisions(st: Any, index: dict[str, str]) -> dict[str, dict[str, int]]:
    """Trainer index -> how many of its updates ended in each status."""
    out: dict[str, Counter[str]] = {i: Counter() for i in index.values()}
    for u in st.updates.values():
        out[index.get(u.trainer, u.trainer)][u.status] += 1
    return {i: dict(sorted(c.items())) for i, c in out.items()}


def _privacy(st: Any, index: dict[str, str]) -> dict[str, Any]:
    """ε spent per trainer index, as the ledger records it (only when DP was used)."""
    spent = {index[t]: round(i.epsilon, 6) for t, i in st.trainers.items() if i.dp_releases}
    return {"epsilon": dict(sorted(spent.items(), key=lambda kv: int(kv[0])))} if spent else {}
