"""The FLoBC side of ``flobc bench round``'s workload with whichever tree is on
PYTHONPATH, as one JSON line: steady round, wall and CPU per round by role (``/proc``),
blocks per round, round_profile and critical_path medians (per-round rows in ``cp_rows``),
load, and the network folder (kept, for ``blkstats.py``).

``PYTHONPATH=<tree>/src nice -n 10 python ab.py TAG [ROUNDS]``; a tree without
``orchestration/critical_path.py`` gets ``null`` there (the runs here had it copied in)."""

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from flobc.bench.round_workload import workload_config
from flobc.orchestration.fl_setup import create_fl_network
from flobc.orchestration.netdir import list_nodes
from flobc.orchestration.processes import running_pid, started
from flobc.orchestration.round_profile import profile_medians, round_profile
from flobc.orchestration.watch import Watcher, get_json


def cpu_s(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


tag, rounds = sys.argv[1], int(sys.argv[2])
cfg = workload_config(7)
netdir = Path(tempfile.mkdtemp(prefix="flobc-ab-")) / "flobc"
create_fl_network(netdir, cfg)
load0 = os.getloadavg()[0]
t0 = time.monotonic()
with started(netdir, timeout=180) as net:
    w = Watcher(cfg, net.validators)
    w.follow(1, t0 + 600, poll_s=0.05)
    url = next(iter(net.validators.values()))
    pids = {e.name: (e.role, running_pid(netdir, e)) for e in list_nodes(netdir)}
    before = {n: cpu_s(p) for n, (_, p) in pids.items() if p}
    wall0 = time.monotonic()
    w.follow(rounds, t0 + 600, poll_s=0.05)
    after = {n: cpu_s(p) for n, (_, p) in pids.items() if p}
    wall1 = time.monotonic()
    m1, mN = get_json(url + "/v1/models/1"), get_json(url + f"/v1/models/{rounds}")
    prof = round_profile(url, rounds)
    try:
        from flobc.orchestration.critical_path import critical_path, path_medians, read_logs

        cp = critical_path(url, range(2, rounds + 1), read_logs(netdir / "run"))
        cpm = path_medians(cp)
    except ImportError:
        cp = cpm = None
n = rounds - 1
per = {"validators": 0.0, "trainers": 0.0}
for name, c in after.items():
    per[pids[name][0] + "s"] += (c - before[name]) / n
steady = [r.round_ms / 1000 for r in w.records if 2 <= r.version <= rounds]
hk = next((k for k in ("height", "released_height", "block_height") if k in m1), None)
print(
    json.dumps(
        {
            "tag": tag,
            "steady_median": statistics.median(steady),
            "wall_per_round": (wall1 - wall0) / n,
            "cpu_per_round": per,
            "blocks_per_round": (mN[hk] - m1[hk]) / n if hk else None,
            "phases": profile_medians(prof),
            "critical_path": cpm,
            "cp_rows": cp,
            "load": [load0, os.getloadavg()[0]],
            "dir": str(netdir),
        }
    )
)
