"""Experiment 2: the reward-penalty policy against noisy trainers.

6 trainers and 3 validators under BSP with a long period (every trainer submits every
round). Trainer ``i``'s updates get Gaussian noise with std ``k·i`` (k = 0.0545), and the
acceptance threshold is lowered so that noisy updates pass and are judged by their trust
scores. The scoring group (reward-penalty) is compared with a control group whose scores
stay uniform. Reported: Table I (every trainer's score at rounds 0, 5, ..., 30) and both
groups' test accuracy per round.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from flobc.experiments import report
from flobc.experiments.plots import line_plot
from flobc.experiments.runtime import Runner
from flobc.experiments.settings import Options, make_config
from flobc.ml.noise import PAPER_NOISE_K
from flobc.node_apps.fl.settings import FLRunConfig

TRAINERS, VALIDATORS = 6, 3
#: Low enough that every noisy update is accepted (accuracy changes are >= -1).
THRESHOLD = -1.0
#: Paper Table I: trainer -> score at rounds 0, 5, ..., 30.
PAPER_TABLE = {
    "0": [0.16667, 0.764622, 0.823812, 0.866141, 0.907603, 0.964613, 1.0],
    "1": [0.16667, 0.235378, 0.176188, 0.133859, 0.092397, 0.035387, 0.0],
    "2": [0.16667, 0, 0, 0, 0, 0, 0],
    "3": [0.16667, 0, 0, 0, 0, 0, 0],
    "4": [0.16667, 0, 0, 0, 0, 0, 0],
    "5": [0.16667, 0, 0, 0, 0, 0, 0],
}
GROUPS = {"scoring": "reward_penalty", "uniform": "uniform"}


def config(opts: Options, policy: str) -> FLRunConfig:
    return make_config(
        opts,
        **{
            "network.trainers": TRAINERS,
            "network.validators": VALIDATORS,
            "training.noise_k": PAPER_NOISE_K,
            "reputation.policy": policy,
            "reputation.acceptance_threshold": THRESHOLD,
            "sync.scheme": "bsp",
            "sync.wait_for_all": True,
            "sync.period_s": 600.0,
        },
    )


def table_rounds(rounds: int, step: int = 5) -> list[int]:
    """0, 5, 10, ... up to ``rounds`` (always including the last round)."""
    out = list(range(0, rounds + 1, step))
    return out if out[-1] == rounds else [*out, rounds]


def score_table(run: dict[str, Any], rounds: list[int]) -> dict[str, list[float]]:
    """Trainer index -> its score after each of ``rounds`` (the last known if fewer ran)."""
    versions = run["versions"]
    trainers = list(versions[0]["scores"])
    return {t: [versions[min(r, len(versions) - 1)]["scores"][t] for r in rounds] for t in trainers}


def run(opts: Options, runner: Runner) -> dict[str, Any]:
    """Run both groups; return the results document."""
    runs, cfg = {}, None
    for group, policy in GROUPS.items():
        cfg = config(opts, policy)
        runs[group] = runner(group, cfg, opts.n_rounds).as_json()
    assert cfg is not None
    rounds = table_rounds(opts.n_rounds)
    table = score_table(runs["scoring"], rounds)
    final = {t: s[-1] for t, s in table.items()}
    acc = {g: [v["accuracy"] for v in r["versions"]] for g, r in runs.items()}
    return {
        "experiment": "reputation",
        "options": opts.as_json(),
        "config": cfg.model_dump(mode="json"),
        "wall_s": round(sum(r["wall_s"] for r in runs.values()), 2),
        "runs": runs,
        "summary": {
            "table_rounds": rounds,
            "scores": table,
            "final_scores": final,
            "noise_std": {str(i): round(PAPER_NOISE_K * i, 4) for i in range(TRAINERS)},
            "max_accuracy": {g: max(a) for g, a in acc.items()},
            "final_accuracy": {g: a[-1] for g, a in acc.items()},
            "mean_accuracy": {g: round(mean(a[1:]), 6) for g, a in acc.items()},
            "paper_table": PAPER_TABLE,
        },
    }


def write(doc: dict[str, Any], opts: Options) -> None:
    out = opts.out
    s = doc["summary"]
    runs = doc["runs"]
    line_plot(
        out / "accuracy.png",
        {f"{g} group": report.curve(r) for g, r in runs.items()},
        title="Scoring group vs uniform (control) group (paper Fig. 6)",
        xlabel="round",
        ylabel="test accuracy",
    )
    versions = runs["scoring"]["versions"]
    xs = [v["version"] for v in versions]
    line_plot(
        out / "scores.png",
        {
            f"trainer {t} (noise std {s['noise_std'][t]})": (xs, [v["scores"][t] for v in versions])
            for t in s["scores"]
        },
        title="Trust score per trainer, scoring group (paper Table I)",
        xlabel="round",
        ylabel="trust score φ",
        ylim=(-0.02, 1.02),
    )
    rounds = s["table_rounds"]
    lines = report.header("Experiment 2: reward-penalty policy", opts, doc)
    lines += [
        "## Table I: trust score of every trainer (scoring group)",
        "",
        report.table(
            ["round", *[str(r) for r in rounds]],
            [[f"trainer {t} (std {s['noise_std'][t]})", *row] for t, row in s["scores"].items()],
        ),
        "",
        "Paper (MNIST):",
        "",
        report.table(
            ["round", "0", "5", "10", "15", "20", "25", "30"],
            [[f"trainer {t}", *row] for t, row in PAPER_TABLE.items()],
        ),
        "",
        "## Accuracy of both groups (paper Fig. 6)",
        "",
        report.table(
            ["group", "max accuracy", "final accuracy", "mean accuracy over rounds 1.."],
            [
                [g, s["max_accuracy"][g], s["final_accuracy"][g], s["mean_accuracy"][g]]
                for g in runs
            ],
        ),
        "",
        "![accuracy](accuracy.png)",
        "",
        "![scores](scores.png)",
    ]
    report.write(out, doc, "\n".join(lines))
