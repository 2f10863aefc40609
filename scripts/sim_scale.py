"""Simulator scale benchmark: wall time and peak memory of one large simulated FL run.

The workload is the decentralized arm of ``flobc experiment benchmark --quick`` (digits,
BSP, reputation on) with logistic regression, 1% of the training set per trainer, and
the sizes given here. The run's record (wall seconds, ``ru_maxrss``, virtual seconds,
versions and their accuracy) is merged into ``OUT/results.json`` under ``--label``.

    nice -n 10 python scripts/sim_scale.py --trainers 1000 --validators 10 --rounds 10 \\
        --label t1000 --out docs/results/sim-scale
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from flobc.experiments import benchmark
from flobc.experiments.runner import run_sim
from flobc.experiments.runtime import Runner
from flobc.experiments.settings import Options
from flobc.sim.fl_network import SimFLNetwork


class Progress:
    """Prints wall time, virtual time, released version and peak memory every ``every_s``."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.started = self.last = time.perf_counter()
        self.log: list[dict[str, Any]] = []

    def __call__(self, net: SimFLNetwork) -> None:
        now = time.perf_counter()
        if now - self.last < self.every_s:
            return
        self.last = now
        row = {
            "wall_s": round(now - self.started, 1),
            "virtual_s": (net.ledger.cluster.now - net.ledger.genesis.genesis_time_ms) / 1000,
            "version": net.version(0),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        self.log.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trainers", type=int, default=1000)
    ap.add_argument("--validators", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--executor", choices=["inprocess", "ray"], default="inprocess")
    ap.add_argument("--ray-address", default=None)
    ap.add_argument("--label", required=True)
    ap.add_argument("--out", type=Path, default=Path("docs/results/sim-scale"))
    ap.add_argument("--progress-every", type=float, default=30.0, help="seconds (wall)")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    opts = Options(
        quick=True,
        rounds=args.rounds,
        out=args.out,
        executor=args.executor,
        ray_address=args.ray_address,
        overrides={
            "network.trainers": args.trainers,
            "network.validators": args.validators,
            "model.name": "logreg",
            "data.fraction": 0.01,
        },
    )
    cfg = benchmark.config(opts)
    runner = Runner(opts)
    progress = Progress(args.progress_every)
    result = run_sim(
        "decentralized",
        cfg,
        runner.timing(cfg),
        args.rounds,
        executor=runner.executor(cfg),
        progress=progress,
    )
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss_kib = usage.ru_maxrss
    kids_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    record = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "trainers": args.trainers,
        "validators": args.validators,
        "rounds_asked": args.rounds,
        "executor": args.executor,
        "versions_released": len(result.versions) - 1,
        "accuracy": result.accuracies,
        "validators_agreed": result.agreed,
        "wall_s": round(wall, 1),
        "run_wall_s": result.wall_s,
        "virtual_s": result.extra["virtual_s"],
        "peak_rss_mib": round(rss_kib / 1024, 1),
        # CPU seconds of this process: what the run costs, whatever else the machine ran
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "children_peak_rss_mib": round(kids_kib / 1024, 1),
        "python": platform.python_version(),
        "progress": progress.log,
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "results.json"
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc[args.label] = record
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    main()
