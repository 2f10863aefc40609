"""One line per run of ``runs/*/results.json``: the benchmark's overhead summary, the
critical path's medians, CPU per round by role, load. ``python summ.py [RUN...]``."""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent / "runs"

for run in sys.argv[1:] or sorted(p.name for p in HERE.iterdir()):
    d = json.loads((HERE / run / "results.json").read_text())
    o, ex = d["summary"]["overhead"], d["decentralized"]["extra"]
    cp, cpu = ex["critical_path_median_s"], ex["cpu_per_round_s"]
    steps = " ".join(f"{k[:-2]}={v:.2f}" for k, v in cp.items() if v is not None)
    print(
        f"{run:15s} round {o['median_round_s']:.2f} train {o['slowest_training_s']:.2f} "
        f"val {o['validation_s']:.3f} ratio {o['ratio']:.2f} | {steps} | cpu val "
        f"{cpu['validators']:.2f} trn {cpu['trainers']:.2f} wall {cpu['wall']:.2f} | load "
        f"{ex['loadavg_at_start'][0]:.1f}->{ex['loadavg_at_end'][0]:.1f}"
    )
