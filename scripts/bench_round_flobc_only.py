"""Run only the FLoBC side of ``flobc bench round`` (same workload: 7 trainers, 3 validators)
with whichever source tree is on PYTHONPATH, and print one JSON line: the steady round
(median block-time gap of versions 2..n), the wall time per round, and the CPU seconds per
round each role used (from ``/proc``, so it works on older trees too).

``PYTHONPATH=<tree>/src python scripts/bench_round_flobc_only.py TAG [ROUNDS]`` — used to
compare source trees in interleaved runs (``docs/results/bench-round/*.jsonl``). CPU per
round is the steadier figure on a shared machine: the round time moves with other load.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(tag: str, rounds: int) -> dict[str, object]:
    from flobc.bench.round_workload import workload_config
    from flobc.orchestration.fl_setup import create_fl_network
    from flobc.orchestration.netdir import list_nodes
    from flobc.orchestration.processes import running_pid, started
    from flobc.orchestration.watch import Watcher

    cfg = workload_config(7)
    netdir = Path(tempfile.mkdtemp(prefix="flobc-ab-")) / "flobc"
    create_fl_network(netdir, cfg)
    load0 = os.getloadavg()
    t0 = time.monotonic()
    with started(netdir, timeout=180) as net:
        watcher = Watcher(cfg, net.validators)
        watcher.follow(1, t0 + 600, poll_s=0.05)
        pids = {e.name: (e.role, running_pid(netdir, e)) for e in list_nodes(netdir)}
        before = {n: cpu_s(p) for n, (_, p) in pids.items() if p}
        own0, wall0 = time.process_time(), time.monotonic()
        watcher.follow(rounds, t0 + 600, poll_s=0.05)
        after = {n: cpu_s(p) for n, (_, p) in pids.items() if p}
        own1, wall1 = time.process_time(), time.monotonic()
    n = rounds - 1
    per = {"validators": 0.0, "trainers": 0.0}
    for name, c in after.items():
        per[pids[name][0] + "s"] += (c - before[name]) / n
    steady = [r.round_ms / 1000 for r in watcher.records if 2 <= r.version <= rounds]
    return {
        "tag": tag,
        "steady_median": statistics.median(steady),
        "whole": wall1 - t0,
        "wall_per_round": (wall1 - wall0) / n,
        "cpu_per_round": {**per, "watcher": (own1 - own0) / n},
        "loadavg_start": load0[0],
        "loadavg_end": os.getloadavg()[0],
    }


if __name__ == "__main__":
    doc = main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10)
    print(json.dumps(doc))
