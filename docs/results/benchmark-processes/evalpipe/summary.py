"""One table row per run folder (next to this script): overhead per vote tx (as the trees
computed it before this branch) and per update where the log has ballots, round phases,
CPU per round, load."""

import json
import sys
from pathlib import Path
from statistics import mean

for name in sys.argv[1:]:
    p = Path(__file__).parent / name / "results.json"
    if not p.exists():
        print(f"| {name} | (no results) |")
        continue
    d = json.loads(p.read_text())
    o, ex = d["summary"]["overhead"], d["decentralized"]["extra"]
    ph, cpu = ex["round_profile_median_s"], ex["cpu_per_round_s"]
    voted = ex["log_times"]["voted"]
    pairs = all(isinstance(x, list) for v in voted.values() for x in v)
    per_tx = max(mean(x[1] if pairs else x for x in v) for v in voted.values() if v)
    med, tr = o["median_round_s"], o["slowest_training_s"]
    if pairs:
        per_up = max(sum(s for _, s in v) / sum(n for n, _ in v) for v in voted.values() if v)
        up = f"{per_up:.2f} s | {med / (tr + per_up):.2f}x"
    else:
        up = "— | —"
    la0, la1 = ex.get("loadavg_at_start", [0] * 3), ex.get("loadavg_at_end", [0] * 3)
    print(
        f"| {name} | {med:.2f} s | {tr:.2f} s | {per_tx:.2f} s | "
        f"{med / (tr + per_tx):.2f}x | {up} | "
        f"{ph['to_first_update_s']:.2f} / {ph['update_spread_s']:.2f} / "
        f"{ph['votes_s']:.2f} / {ph['release_s']:.2f} | "
        f"{cpu['validators']:.2f} / {cpu['trainers']:.2f} / {cpu['wall']:.2f} | "
        f"{la0[0]:.1f} → {la1[0]:.1f} | {d['decentralized']['wall_s']:.0f} s |"
    )
