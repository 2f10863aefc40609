"""Run one FL configuration as real processes (validators and trainers over loopback HTTP).

This reuses ``flobc demo``'s machinery from :mod:`flobc.orchestration`:
:func:`~flobc.orchestration.netdir.create_network` with
:func:`~flobc.orchestration.fl_setup.fl_network_args`,
:func:`~flobc.orchestration.processes.up` / ``down`` and the
:class:`~flobc.orchestration.watch.Watcher`, which fetches every version from every
validator and scores it on the test set. Times are real wall-clock seconds (block times
on the ledger), so results depend on how loaded the machine is. Local training and
validation times are read from the nodes' logs (trainer: ``trained 1.23s``; validator:
``voted on ...: 3 ballot(s) in one tx, ... in 0.12s``, a batch of ballots scored together).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from pathlib import Path
from statistics import mean
from typing import Any

from flobc.chain.genesis import Genesis
from flobc.crypto.keys import node_id_of
from flobc.experiments.runner import RunResult, VersionPoint, _by_index
from flobc.node_apps.fl.settings import FLRunConfig

_TRAINED = re.compile(r"version (\d+): trained ([0-9.]+)s")
#: a batch's ballots and scoring seconds, sent (``in one tx``) or held for the next tx, and
#: how many of them it scored then (the others were scored ahead; older logs lack it)
_VOTED = re.compile(
    r"voted on \w+: (\d+) ballot\(s\)(?: in one tx)?, .* in ([0-9.]+)s(?: \((\d+) scored\))?"
)
#: updates scored ahead of their block's commit, and the seconds it took
_AHEAD = re.compile(r"scored (\d+) pending update\(s\) ahead in ([0-9.]+)s")


def run_processes(
    label: str,
    cfg: FLRunConfig,
    rounds: int,
    workdir: Path,
    *,
    min_time_s: float = 0.0,
    timeout_s: float = 1800.0,
    keep: bool = False,
) -> RunResult:
    """Start the network in ``workdir``, watch it to ``rounds`` versions, stop it.

    Every process started is stopped again (also on errors and Ctrl-C); the network
    folder is removed afterwards unless ``keep``.
    """
    from flobc.orchestration.critical_path import critical_path, path_medians, read_logs
    from flobc.orchestration.fl_setup import create_fl_network
    from flobc.orchestration.netdir import GENESIS_FILE
    from flobc.orchestration.processes import started as running
    from flobc.orchestration.round_profile import profile_medians, round_profile
    from flobc.orchestration.watch import NotReached, Watcher

    netdir = workdir / label
    create_fl_network(netdir, cfg)
    genesis = Genesis.load(netdir / GENESIS_FILE)
    index = {
        node_id_of(bytes.fromhex(pk)): str(i)
        for i, pk in enumerate(genesis.app_state["fl"]["trainers"])
    }

    def long_enough(w: Watcher) -> bool:
        recs = w.records
        return (recs[-1].wall_s - recs[1].wall_s if len(recs) > 1 else 0.0) >= min_time_s

    load_start = os.getloadavg()  # the machine's load: wall times depend on it
    started = time.monotonic()
    with running(netdir) as net:
        watcher = Watcher(cfg, net.validators)
        try:
            watcher.follow(1, started + timeout_s)
            cpu0, wall0 = net.cpu_seconds(), time.monotonic()
            watcher.follow(rounds, started + timeout_s, enough=long_enough)
        except NotReached:
            raise TimeoutError(f"{label}: not {rounds} versions after {timeout_s:.0f}s") from None
        cpu = _cpu_per_round(net, cpu0, time.monotonic() - wall0, watcher.records[-1].version - 1)
        url, last_version = next(iter(net.validators.values())), watcher.records[-1].version
        profile = round_profile(url, last_version)
        path = critical_path(url, range(2, last_version + 1), read_logs(netdir / "run"))
    wall = time.monotonic() - started
    logs = _log_times(netdir / "run")
    t0 = _chain_times(watcher)
    points = [
        VersionPoint(
            version=r.version,
            accuracy=round(r.accuracy, 6),
            time_s=t0[k],
            reason=r.reason,
            accepted=r.accepted,
            rejected=r.rejected,
            aggregated=len(r.updates),
            scores=_by_index(r.scores, index),
        )
        for k, r in enumerate(watcher.records)
    ]
    model_bytes = 4 * watcher.learner.get_weights().size
    last = points[-1].version
    uploads = sum(ver < last for v in logs["trained"].values() for ver, _ in v)
    result = RunResult(
        label=label,
        runtime="processes",
        versions=points,
        agreed=all(r.agreed for r in watcher.records),
        wall_s=round(wall, 2),
        bytes={
            "model_bytes": model_bytes,
            # estimated from sizes: each update blob is gossiped to the other validators
            "validator_network_bytes": uploads * model_bytes * (cfg.network.validators - 1),
            "trainer_upload_bytes": uploads * model_bytes,
            "trainer_download_bytes": uploads * model_bytes,
            "uploads": uploads,
            "model_pulls": uploads,
            "estimated": 1,
        },
        extra={
            "log_times": logs,
            "cpu_per_round_s": cpu,
            "round_profile": profile,
            "round_profile_median_s": profile_medians(profile),
            "critical_path": path,
            "critical_path_median_s": path_medians(path),
            "loadavg_at_start": list(load_start),
            "loadavg_at_end": list(os.getloadavg()),
        },
    )
    if not keep:
        shutil.rmtree(netdir, ignore_errors=True)
        with contextlib.suppress(OSError):
            workdir.rmdir()  # only if empty
    return result


def _cpu_per_round(net: Any, before: dict[str, float], wall: float, n: int) -> dict[str, float]:
    """CPU seconds per round after version 1, summed by role, and the wall time per round:
    what the nodes cost the machine's cores, next to what a round took."""
    roles = {e.name: e.role for e in net.nodes}
    per = {"validators": 0.0, "trainers": 0.0}
    for name, c in net.cpu_seconds().items():
        per[f"{roles[name]}s"] += (c - before.get(name, 0.0)) / max(n, 1)
    return {k: round(v, 4) for k, v in per.items()} | {"wall": round(wall / max(n, 1), 4)}


def _chain_times(watcher: object) -> list[float]:
    """Seconds since the genesis by the ledger's block times (round 1 includes start-up)."""
    recs = watcher.records  # type: ignore[attr-defined]
    times, acc = [0.0], 0.0
    for r in recs[1:]:
        acc += r.round_ms / 1000
        times.append(round(acc, 3))
    return times


def _log_times(rundir: Path) -> dict[str, dict[str, list[Any]]]:
    """Per trainer: [base version, local training seconds] per upload; per validator:
    [updates scored, seconds] of each scoring: a vote batch's (what it scored then) and
    each batch scored ahead of its commit."""
    trained: dict[str, list[Any]] = {}
    voted: dict[str, list[Any]] = {}
    for log in sorted(rundir.glob("*.log")):
        text = log.read_text(errors="replace")
        if log.stem.startswith("trainer-"):
            trained[log.stem.split("-")[1]] = [
                [int(v), float(s)] for v, s in _TRAINED.findall(text)
            ]
        elif log.stem.startswith("validator-"):
            batches = [[int(k or n), float(s)] for n, s, k in _VOTED.findall(text)]
            batches += [[int(n), float(s)] for n, s in _AHEAD.findall(text)]
            voted[log.stem.split("-")[1]] = batches
    return {"trained": trained, "voted": voted}


def slowest_training_s(logs: dict[str, dict[str, list[Any]]]) -> float:
    """The slowest trainer's mean local training time per upload."""
    return max((mean(s for _, s in v) for v in logs["trained"].values() if v), default=0.0)


def validation_s(logs: dict[str, dict[str, list[Any]]]) -> float:
    """The slowest validator's mean time to evaluate one update (the part of validation on
    a round's critical path: the last update is scored after the slowest trainer uploads;
    the others are scored while it still trains): its scoring seconds over its ballots,
    since a vote transaction carries a batch. Older logs list one float per vote."""

    def per_update(votes: list[Any]) -> float:
        pairs = [(1, v) if isinstance(v, int | float) else v for v in votes]
        return sum(s for _, s in pairs) / max(1, sum(n for n, _ in pairs))

    return max((per_update(v) for v in logs["voted"].values() if v), default=0.0)
