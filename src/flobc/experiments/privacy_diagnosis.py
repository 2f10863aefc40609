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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flobc.algorithms.validation.base import median
from flobc.algorithms.validation.noise import DPSGD, cosine_z
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
        votes = [_complete(v) for v in r.get("votes") or [r]]
        noise = DeclaredNoise(*r["dp"]) if r["dp"] else None
        d = rule.decide(votes, noise)
        side = out["poison" if r["trainer"] in attackers else "honest"]
        side[0] += not d.accepted
        side[1] += 1
        out["fired"].update(which_tests([{"reason": d.reason}]))
    out["fired"] = dict(out["fired"].most_common())
    return out


def _complete(vote: dict[str, Any]) -> dict[str, float]:
    """The rule's measures of a dumped vote or row; dumps made before the two-sample
    measures lack them and replay as 0 (no evidence either way: the test cannot fire)."""
    return {k: vote.get(k, 0.0) for k in MEASURES}


#: Rule variants for DP-SGD updates weighed in issue 12, as predicates on (cos·√d, loss t)
#: that add a rejection to today's rule; kept here to replay dumps, not in the rule.
CANDIDATES: dict[str, Callable[[float, float, float], bool]] = {
    # the loss test again, only when the direction is not in favour
    "loss_if_direction_against": lambda zc, t, z: zc < 0.0 and t < -z,
    # Stouffer's combination of the two statistics (level Φ(-z) were t unbiased)
    "stouffer": lambda zc, t, z: (zc + t) / math.sqrt(2.0) < -z,
}


def _zc(r: dict[str, Any]) -> float:
    return cosine_z(r["cosine"], max(0, int(r["dimension"])))


def candidate_replay(
    rows: list[dict[str, Any]], attackers: set[int], z: float = 2.0
) -> dict[str, dict[str, list[int]]]:
    """Rejections of DP-SGD updates by today's rule plus each of :data:`CANDIDATES`.

    Median measures as one vote (the t of the dump's rows is the median of the votes'
    t statistics, as the rule computes it), so a candidate's counts are exact.
    """
    from flobc.algorithms.validation import DeclaredNoise
    from flobc.algorithms.validation.robust import RobustRule

    rule = RobustRule(z=z)
    out = {name: {"honest": [0, 0], "poison": [0, 0]} for name in ("now", *CANDIDATES)}
    for r in _dpsgd_rows(rows):
        base = not rule.decide([_complete(r)], DeclaredNoise(*r["dp"])).accepted
        side = "poison" if r["trainer"] in attackers else "honest"
        for name, tally in out.items():
            rejected = base or (name != "now" and CANDIDATES[name](_zc(r), r["t"], z))
            tally[side][0] += rejected
            tally[side][1] += 1
    return out


def peer_shortfall(
    rows: list[dict[str, Any]], attackers: set[int], z: float = 2.0
) -> dict[str, list[float]]:
    """Expected rejections by a two-sample test against an honest DP step at the same noise.

    An honest DP-SGD update's cos·√d is N(μ, ≈1) with μ set by how much signal survives
    the noise (unknown to the rule). A second honest step at the declared noise from the
    same base has the same law, so (cos·√d - peer's)/√2 < -z fails an honest update with
    probability Φ(-z) whatever μ is. The validator does not compute such a step yet; here
    each other honest update of the round stands in for it, and an update's expected
    rejection is the fraction of its peers it fails against.
    """
    out = {"honest": [0.0, 0], "poison": [0.0, 0]}
    by_round: dict[int, list[dict[str, Any]]] = {}
    for r in _dpsgd_rows(rows):
        by_round.setdefault(r["round"], []).append(r)
    for rs in by_round.values():
        for r in rs:
            peers = [_zc(p) for p in rs if p is not r and p["trainer"] not in attackers]
            if not peers:
                continue
            fails = sum((_zc(r) - p) / math.sqrt(2.0) < -z for p in peers)
            side = out["poison" if r["trainer"] in attackers else "honest"]
            side[0] += fails / len(peers)
            side[1] += 1
    return {k: [round(v[0], 3), v[1]] for k, v in out.items()}


def power_check(
    rows: list[dict[str, Any]], attackers: set[int], z: float = 2.0
) -> dict[str, float | None]:
    """The two-sample test's power on a dump, predicted from its votes' means against the
    share of poisoned DP-SGD updates it caught.

    Means over the votes of the honest updates' cos·√d (``dp_cosine_z``), the validators'
    twin steps' (``dp_reference_cosine_z``) and the poisoned updates'; the prediction is
    :func:`~flobc.algorithms.validation.noise.two_sample_power` at shortfall = reference
    mean - poison mean (as built) and the ceiling at honest mean - poison mean with μ known.
    """
    from flobc.algorithms.validation.noise import two_sample_power

    dp = _dpsgd_rows(rows)

    def mean(key: str, poison: bool) -> float | None:
        xs = [v[key] for r in dp if (r["trainer"] in attackers) == poison for v in r["votes"]]
        return round(sum(xs) / len(xs), 4) if xs else None

    honest, reference = mean("dp_cosine_z", False), mean("dp_reference_cosine_z", False)
    poison = mean("dp_cosine_z", True)
    bad = [r for r in dp if r["trainer"] in attackers]
    out: dict[str, float | None] = {
        "honest_mean": honest,
        "reference_mean": reference,
        "poison_mean": poison,
        "caught": round(sum(r["status"] == "rejected" for r in bad) / len(bad), 4) if bad else None,
        "predicted": None,
        "ceiling": None,
    }
    if poison is not None and honest is not None and reference is not None:
        out["predicted"] = round(two_sample_power(reference - poison, z), 4)
        out["ceiling"] = round(two_sample_power(honest - poison, z, references=10**9), 4)
    return out


def _dpsgd_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["status"] != "pending" and r["dp"] and r["dp"][0] == DPSGD]


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
        rows = doc["updates"]
        print(
            json.dumps(
                {
                    "recorded": doc["tests_fired"],
                    "now": replay(rows, bad),
                    "dpsgd_candidates": candidate_replay(rows, bad),
                    "dpsgd_peer_shortfall": peer_shortfall(rows, bad),
                    "two_sample_power": power_check(rows, bad),
                }
            )
        )
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
