"""Experiment 1: the trainers-to-validators split of N = 10 nodes.

Every split from 9 trainers / 1 validator to 1 / 9 runs for ``rounds`` iterations under BSP
waiting for every trainer (a version is released once every trainer's update is decided).
Reported: the maximum test accuracy of each split and the iteration where it was reached.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flobc.experiments import report
from flobc.experiments.plots import bar_plot, line_plot
from flobc.experiments.runtime import Runner
from flobc.experiments.settings import Options, make_config
from flobc.node_apps.fl.settings import FLRunConfig

NODES = 10
#: Paper Fig. 5: best split 7 trainers / 3 validators, 0.9874 at iteration 26 (MNIST).
PAPER_BEST = {"split": "7/3", "accuracy": 0.9874, "iteration": 26}


def splits(nodes: int = NODES) -> list[tuple[int, int]]:
    """(trainers, validators) from (nodes-1, 1) down to (1, nodes-1)."""
    return [(t, nodes - t) for t in range(nodes - 1, 0, -1)]


def config(opts: Options, trainers: int, validators: int) -> FLRunConfig:
    return make_config(
        opts,
        **{
            "network.trainers": trainers,
            "network.validators": validators,
            "sync.scheme": "bsp",
            "sync.wait_for_all": True,
            "sync.period_s": 600.0,
        },
    )


def run(
    opts: Options, runner: Runner, only: Sequence[tuple[int, int]] | None = None
) -> dict[str, Any]:
    """Run every split (or ``only`` those (trainers, validators)); return the document."""
    runs: dict[str, Any] = {}
    rows = []
    wall = 0.0
    cfg = None
    for t, v in only or splits():
        label = f"{t}/{v}"
        cfg = config(opts, t, v)
        res = runner(f"split-{t}t-{v}v", cfg, opts.n_rounds)
        best, at = res.best()
        wall += res.wall_s
        runs[label] = res.as_json()
        rows.append({"split": label, "trainers": t, "validators": v, "max": best, "at": at})
    assert cfg is not None
    ranked = sorted(rows, key=lambda r: (-r["max"], r["at"]))
    return {
        "experiment": "split",
        "options": opts.as_json(),
        "config": cfg.model_dump(mode="json"),
        "wall_s": round(wall, 2),
        "runs": runs,
        "summary": {
            "splits": rows,
            "best": ranked[0],
            "worst": ranked[-1],
            "paper_best": PAPER_BEST,
        },
    }


def write(doc: dict[str, Any], opts: Options) -> None:
    out = opts.out
    rows = doc["summary"]["splits"]
    bar_plot(
        out / "max_accuracy.png",
        [r["split"] for r in rows],
        [r["max"] for r in rows],
        title="Max accuracy per trainers/validators split (paper Fig. 5)",
        ylabel="max test accuracy",
        annotate=[f"{r['max']:.3f}\nit. {r['at']}" for r in rows],
        ylim=(max(0.0, min(r["max"] for r in rows) - 0.05), 1.0),
    )
    line_plot(
        out / "accuracy.png",
        {label: report.curve(run) for label, run in doc["runs"].items()},
        title="Accuracy per iteration for every split (trainers/validators)",
        xlabel="iteration",
        ylabel="test accuracy",
    )
    s = doc["summary"]
    best, worst = s["best"], s["worst"]
    lines = report.header("Experiment 1: trainers-to-validators split (N = 10)", opts, doc)
    lines += [
        report.table(
            ["trainers/validators", "max accuracy", "iteration reached"],
            [[r["split"], r["max"], r["at"]] for r in rows],
        ),
        "",
        f"Best: **{best['split']}** with {best['max']:.4f} at iteration {best['at']}"
        f" (paper, MNIST: 7/3 with {PAPER_BEST['accuracy']} at iteration"
        f" {PAPER_BEST['iteration']}). Worst: {worst['split']} with {worst['max']:.4f}"
        " (paper: the single-trainer split).",
        "",
        "![max accuracy](max_accuracy.png)",
        "",
        "![accuracy](accuracy.png)",
    ]
    report.write(out, doc, "\n".join(lines))
