"""Why the robust rule rejects an update: the quorum's median measures of every update.

The privacy experiment reports how many honest DP updates were rejected; this says which
of the rule's tests fired and at what statistics, per round, so a change to the rule can
be argued from the numbers (``python -m flobc.experiments.privacy_diagnosis --help``).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from flobc.algorithms.validation.base import median
from flobc.algorithms.validation.robust import MEASURES, t_statistic


def update_rows(net: Any) -> list[dict[str, Any]]:
    """One row per voted update of a finished simulated network, in ledger order."""
    st = net.ledger.node(0).app.state
    index = {k.node_id: i for i, k in enumerate(net.trainer_keys)}
    rows = []
    for u in st.updates.values():
        if not u.votes:
            continue
        votes = list(u.votes.values())

        def med(key: str, votes: list[dict[str, float]] = votes) -> float:
            return median([v.get(key, math.nan) for v in votes])

        rows.append(
            {
                "round": u.round,
                "trainer": index.get(u.trainer, -1),
                "status": str(u.status),
                "reason": u.reason,
                "t": median([t_statistic(v["loss_gain"], v["loss_gain_se"]) for v in votes])
                if "loss_gain" in votes[0]
                else None,
                **{k: round(med(k), 6) for k in MEASURES if k in votes[0]},
                "dp": None if u.dp is None else [u.dp.mechanism, u.dp.clip, u.dp.noise_multiplier],
                "votes": [dict(v) for v in votes],
            }
        )
    return rows


def replay(rows: list[dict[str, Any]], attackers: set[int]) -> dict[str, Any]:
    """The default rule's decisions on a dump's updates, as the code now decides them.

    Exact where the dump kept the votes; dumps without them replay the median measures as
    one vote (the median of per-vote t statistics becomes the t of the medians). The
    trajectory is the dump's: accepting more updates would have changed later rounds.
    """
    from flobc.algorithms.validation import DeclaredNoise
    from flobc.algorithms.validation.robust import RobustRule

    rule = RobustRule()
    out = {"honest": [0, 0], "poison": [0, 0], "fired": Counter()}
    for r in rows:
        if r["status"] == "pending":
            continue
        votes = r.get("votes") or [{k: r[k] for k in MEASURES}]
        noise = DeclaredNoise(*r["dp"]) if r["dp"] else None
        d = rule.decide(votes, noise)
        side = out["poison" if r["trainer"] in attackers else "honest"]
        side[0] += not d.accepted
        side[1] += 1
        out["fired"].update(which_tests([{"reason": d.reason}]))
    out["fired"] = dict(out["fired"].most_common())
    return out


def which_tests(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How often each test fired among the rejected rows (a row may fail several)."""
    fired: Counter[str] = Counter()
    for r in rows:
        for part in filter(None, (p.strip() for p in r["reason"].split(";"))):
            fired[part.split(" (")[0]] += 1
    return dict(fired.most_common())


def main(argv: list[str] | None = None) -> int:
    from flobc.experiments.privacy import _benchmark_overrides, cell_overrides, preset_overrides
    from flobc.experiments.runner import run_sim
    from flobc.experiments.settings import Options, make_config, parse_override, sim_timing

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--mechanism", default="dpsgd")
    ap.add_argument("--epsilon", type=float, default=8.0, help="inf: no DP")
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    ap.add_argument("--replay", action="store_true", help="decide --out's updates again")
    a = ap.parse_args(argv)
    if a.replay:
        from flobc.node_apps.fl.settings import FLRunConfig

        doc = json.loads(a.out.read_text())
        bad = set(FLRunConfig.model_validate(doc["config"]).attackers())
        print(json.dumps({"recorded": doc["tests_fired"], "now": replay(doc["updates"], bad)}))
        return 0
    opts = Options(
        dataset=a.dataset,
        rounds=a.rounds,
        quick=a.quick,
        overrides=dict(parse_override(s) for s in a.sets),
    )
    rounds = opts.n_rounds
    over = cell_overrides(a.mechanism, a.epsilon, rounds, preset_overrides(opts))
    cfg = make_config(opts, **_benchmark_overrides(), **over)
    rows: list[dict[str, Any]] = []
    res = run_sim(
        "diagnosis",
        cfg,
        sim_timing(cfg, opts),
        rounds,
        measure=lambda net: {"updates": rows.extend(update_rows(net)) or len(rows)},
    )
    rejected = [r for r in rows if r["status"] == "rejected"]
    doc = {
        "config": cfg.model_dump(mode="json"),
        "accuracies": res.accuracies,
        "rejected": len(rejected),
        "decided": sum(r["status"] != "pending" for r in rows),
        "tests_fired": which_tests(rejected),
        "updates": rows,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=1))
    print(json.dumps({k: doc[k] for k in ("rejected", "decided", "tests_fired")}))
    print("max accuracy", max(res.accuracies), "final", res.accuracies[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
