"""Run only the FLoBC side of ``flobc bench round`` (same workload: 10 rounds, 7 trainers)
with whichever source tree is on PYTHONPATH, and print one JSON line.

``PYTHONPATH=<tree>/src python scripts/bench_round_flobc_only.py TAG`` — used to compare
source trees in interleaved runs (docs/results/bench-round/pipeline/flobc-only-ab.jsonl).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from flobc.cli.bench_round import flobc_run

if __name__ == "__main__":
    work = Path(tempfile.mkdtemp(prefix="flobc-ab-"))
    r = flobc_run(work, 10, 7, 600)
    steady = sorted(x["round_s"] for x in r["rounds"][1:])
    doc = {
        "tag": sys.argv[1],
        "steady_median": steady[len(steady) // 2],
        "whole": r["whole_s"],
        "profile": r.get("profile", [])[1:4],
    }
    print(json.dumps(doc))
