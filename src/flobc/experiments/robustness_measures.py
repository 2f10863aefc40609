"""What the robustness grid keeps of each run: accuracy, rejections, trust, backdoor success."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from flobc.experiments.runner import RunResult
from flobc.node_apps.fl.settings import FLRunConfig
from flobc.weights_codec import vector_view

#: Statuses of an update whose validation finished (superseded ones were accepted).
ACCEPTED = ("accepted", "superseded")
DECIDED = (*ACCEPTED, "rejected")


def rejection_share(decisions: Mapping[str, Mapping[str, int]], who: Sequence[str]) -> float | None:
    """Share of the decided updates of trainers ``who`` that were rejected (None if none)."""
    decided = sum(decisions[t].get(s, 0) for t in who for s in DECIDED)
    if decided == 0:
        return None
    return round(sum(decisions[t].get("rejected", 0) for t in who) / decided, 6)


def summarise(cell: Any, result: RunResult, bad: Sequence[int]) -> dict[str, Any]:
    """One run reduced to the numbers of its grid cell (before the honest baseline joins)."""
    index = [str(i) for i in range(len(result.versions[0].scores))]
    attackers = [str(i) for i in bad]
    honest = [t for t in index if t not in attackers]
    decisions = result.extra["decisions"]
    accs = result.accuracies
    final_scores = result.versions[-1].scores
    return {
        "attack": cell.attack,
        "defense": cell.defense,
        "byzantine_fraction": cell.fraction,
        "partition": cell.partition,
        "final_accuracy": accs[-1],
        "max_accuracy": max(accs),
        "honest_false_rejection": rejection_share(decisions, honest),
        "poison_rejection": rejection_share(decisions, attackers) if attackers else None,
        "attack_success_rate": result.extra.get("attack_success_rate"),
        "attacker_final_trust": (
            round(sum(final_scores[t] for t in attackers), 6) if attackers else None
        ),
        "attackers": [int(t) for t in attackers],
        "accuracies": accs,
        "decisions": decisions,
        "agreed": result.agreed,
        "wall_s": result.wall_s,
    }


CELL_KEYS = (
    "attack",
    "defense",
    "byzantine_fraction",
    "partition",
    "final_accuracy",
    "max_accuracy",
    "honest_accuracy",
    "honest_false_rejection",
    "poison_rejection",
    "attack_success_rate",
    "attacker_final_trust",
)


def cells_document(axes: Mapping[str, list[Any]], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """``cells`` (one per attack x defence x fraction x partition) and the runs behind them.

    The honest run of a (defence, partition) stands for every attack at fraction 0, and
    its final accuracy is every cell's ``honest_accuracy``.
    """
    honest = {(r["defense"], r["partition"]): r for r in runs if r["attack"] == "none"}
    cells = []
    for r in runs:
        base = honest[(r["defense"], r["partition"])]
        if r["attack"] == "none":
            if 0.0 not in axes["fractions"]:
                continue
            rows = [{**r, "attack": a} for a in axes["attacks"]]
        else:
            rows = [r]
        for row in rows:
            cell = {k: row.get(k) for k in CELL_KEYS}
            cell["honest_accuracy"] = base["final_accuracy"]
            cells.append(cell)
    return {"axes": dict(axes), "cells": cells, "runs": runs}


def backdoor_success(cfg: FLRunConfig) -> Callable[[Any], dict[str, Any]]:
    """A ``measure`` for :func:`run_sim`: the attack success rate of the final model, the
    share of triggered non-target test images it classifies as the backdoor's target."""
    from flobc.algorithms.attacks import attack_from_name
    from flobc.node_apps.fl.trainer_core import make_learner, test_data

    spec = cfg.attacks[0]
    attack = attack_from_name(spec.name, **spec.params)

    def measure(net: Any) -> dict[str, Any]:
        test = test_data(cfg)
        x, y = attack.triggered_test_set(test.x, test.y)
        learner = make_learner(cfg, cfg.seed)
        st = net.ledger.node(0).app.state
        learner.set_weights(vector_view(net.blob(st.version.weights)))
        pred = np.argmax(learner.predict(x), axis=1)
        return {"attack_success_rate": round(float(np.mean(pred == y)), 6) if len(y) else None}

    return measure
