"""Join privacy runs narrowed by ``--grid`` (run side by side) into one results folder.

Every cell of the privacy experiment is an independent network, so a sweep can run as
several narrowed invocations in parallel processes; this joins their ``results.json``
into the one layout ``flobc experiment privacy`` writes, and renders its report:
``python -m flobc.experiments.privacy_merge OUT RESULTS.json...``. The runs must share
the dataset, rounds and seed (checked); their commands are all recorded.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from flobc.algorithms.privacy import MECHANISMS
from flobc.experiments.privacy_attacks import ATTACKS

#: Options every joined run must share.
SHARED = ("dataset", "data_dir", "rounds", "seed", "quick", "runtime", "overrides")


def merge(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """One privacy document from ``docs`` (cells in the experiment's order)."""
    from flobc.experiments.privacy import summary

    if not docs:
        raise ValueError("nothing to merge")
    first = docs[0]
    for d in docs[1:]:
        for key in SHARED:
            if d["options"].get(key) != first["options"].get(key):
                raise ValueError(f"cannot merge runs with different {key!r}")
    cells = [c for d in docs for c in d["cells"]]
    seen = [(c["mechanism"], c["epsilon"]) for c in cells]
    if len(set(seen)) != len(seen):
        raise ValueError(f"a cell appears twice: {seen}")
    order = ["none", *MECHANISMS]
    cells.sort(key=lambda c: (order.index(c["mechanism"]), c["epsilon"] or math.inf))
    attacks = [r for d in docs for r in d.get("attack_cells", [])]
    attacks.sort(key=lambda r: (MECHANISMS.index(r["mechanism"]), list(ATTACKS).index(r["attack"])))
    rows: dict[str, Any] = {}
    for d in docs:
        rows.update(d["reconstruction"]["rows"])
    out = {
        **first,
        "options": {
            **first["options"],
            "grid": {},
            "command": " && ".join(d["options"]["command"] for d in docs),
        },
        "wall_s": round(sum(d["wall_s"] for d in docs), 2),
        "elapsed_s": round(sum(d.get("elapsed_s", 0.0) for d in docs), 1),
        "cells": cells,
        "attack_cells": attacks,
        "runs": {k: v for d in docs for k, v in d["runs"].items()},
        "reconstruction": {**first["reconstruction"], "rows": rows},
        "merged_from": [d.get("provenance") for d in docs],
    }
    out["summary"] = summary(cells)
    return out


def main(argv: list[str] | None = None) -> int:
    from flobc.experiments.privacy import write
    from flobc.experiments.settings import Options

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("results", type=Path, nargs="+")
    a = ap.parse_args(argv)
    doc = merge([json.loads(p.read_text()) for p in a.results])
    o = doc["options"]
    opts = Options(
        dataset=o["dataset"],
        data_dir=o["data_dir"],
        rounds=o["rounds"],
        seed=o["seed"],
        quick=o["quick"],
        out=a.out,
        runtime=o["runtime"],
        command=o["command"],
        overrides=o["overrides"],
    )
    doc["options"]["out"] = str(a.out)
    write(doc, opts)
    print(f"privacy: {len(doc['cells'])} cells, {len(doc['attack_cells'])} attack cells -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
