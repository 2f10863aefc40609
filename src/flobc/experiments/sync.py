"""Experiment 3: synchronisation schemes (BSP, SSP, BAP 100%, BAP 60%).

3 validators and 6 trainers at different paces (``training.speed``), uniform trust, every
update accepted (threshold lowered, see :data:`THRESHOLD`). The BSP
period is longer than most trainers need for one round but shorter than the two slowest
need; SSP uses the same period plus its slack extension. Every scheme runs until it has
released ``rounds`` versions *and* a fixed virtual time budget (``rounds`` BSP periods,
the paper's "20 minutes") has passed. Reported: accuracy per round, accuracy over time
within the budget, and the average time per round.

Simulator only: the deadline dynamics need trainer paces that do not depend on machine
load, which real processes on a shared machine cannot guarantee.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from statistics import mean
from typing import Any

from flobc.experiments import report
from flobc.experiments.plots import line_plot
from flobc.experiments.runtime import Runner
from flobc.experiments.settings import Options, make_config
from flobc.node_apps.fl.settings import FLRunConfig
from flobc.sim.fl_network import SimTiming

TRAINERS, VALIDATORS = 6, 3
#: Slowdown factors: two trainers are too slow for the BSP period.
SPEEDS = [1.0, 1.0, 1.2, 1.5, 2.0, 3.0]
#: A speed-1 trainer's round of training takes at least this long (virtual), so that
#: training dominates the fixed consensus cost (~1 s per round) and paces are distinct.
MIN_ROUND_TRAIN_MS = 4_000
#: The time budget is this many BSP periods per round (a BSP round lasts a little longer
#: than its period: the release happens in the first block after the deadline).
BUDGET_SLACK = 1.05
#: Every honest update counts (as in Exp. 2, the threshold is lowered): with uniform trust
#: the comparison then isolates the barrier. With the default threshold 0, once the model
#: plateaus every single-trainer update (base + one local model) scores below the base on
#: the validators' data, all are rejected and a scheme freezes (see docs/experiments.md).
THRESHOLD = -1.0
SCHEMES: dict[str, dict[str, Any]] = {
    "BSP": {"sync.scheme": "bsp", "sync.wait_for_all": False},
    "SSP": {"sync.scheme": "ssp", "sync.wait_for_all": False},
    "BAP 100%": {"sync.scheme": "bap", "sync.majority_ratio": 1.0},
    "BAP 60%": {"sync.scheme": "bap", "sync.majority_ratio": 0.6},
}


def timing_and_period(cfg: FLRunConfig, runner: Runner) -> tuple[SimTiming, float]:
    """Virtual costs (training slowed to ``MIN_ROUND_TRAIN_MS`` if faster) and the BSP period.

    Period = 1.75 x a speed-1 trainer's training + 1 s + one validation: trainers of speed
    up to 1.5 make the deadline, those of speed 2 and 3 do not.
    """
    t = runner.timing(cfg)
    train_ms = t.train_ms_per_epoch * max(cfg.training.epochs, 1)
    factor = max(1.0, MIN_ROUND_TRAIN_MS / train_ms)
    t = dataclasses.replace(
        t,
        train_ms_per_epoch=round(t.train_ms_per_epoch * factor),
        train_ms_per_step=round(t.train_ms_per_step * factor),
    )
    period_ms = 1.75 * train_ms * factor + 1000 + t.eval_ms
    return t, round(period_ms / 1000, 3)


def config(opts: Options, scheme: str, period_s: float, step_ms: int) -> FLRunConfig:
    # SSP: finished trainers may train during half of the extension (2/6 of the period).
    extra_steps = max(1, int(0.5 * period_s * 1000 / 3 / step_ms))
    return make_config(
        opts,
        **{
            "network.trainers": TRAINERS,
            "network.validators": VALIDATORS,
            "training.speed": SPEEDS,
            "reputation.policy": "uniform",
            "reputation.acceptance_threshold": THRESHOLD,
            "sync.period_s": period_s,
            "sync.ssp_max_extra_steps": extra_steps,
            **SCHEMES[scheme],
        },
    )


def within(run: dict[str, Any], budget_s: float) -> list[dict[str, Any]]:
    return [v for v in run["versions"] if v["time_s"] <= budget_s]


def run(opts: Options, runner: Runner, only: Sequence[str] | None = None) -> dict[str, Any]:
    """Run every scheme (or ``only`` those); return the results document."""
    if opts.runtime != "sim":
        raise ValueError("the sync experiment runs in the simulator only (see its docstring)")
    rounds = opts.n_rounds
    probe = config(opts, "BSP", 1.0, 1)
    timing, period_s = timing_and_period(probe, runner)
    budget_s = round(rounds * period_s * BUDGET_SLACK, 3)
    runs: dict[str, Any] = {}
    cfg = probe
    for scheme in only or SCHEMES:
        cfg = config(opts, scheme, period_s, timing.train_ms_per_step)
        res = runner(scheme, cfg, rounds, min_time_s=budget_s, timing=timing)
        runs[scheme] = res.as_json()
    summary: dict[str, Any] = {"period_s": period_s, "budget_s": budget_s, "schemes": {}}
    for scheme, r in runs.items():
        first = r["versions"][: rounds + 1]
        in_budget = within(r, budget_s)
        times = [b["time_s"] - a["time_s"] for a, b in itertools.pairwise(first)]
        summary["schemes"][scheme] = {
            "max_accuracy_rounds": max(v["accuracy"] for v in first),
            "max_at_round": max(first, key=lambda v: v["accuracy"])["version"],
            "top3_mean_rounds": round(mean(sorted(v["accuracy"] for v in first)[-3:]), 6),
            "mean_accuracy_rounds": round(mean(v["accuracy"] for v in first[1:]), 6),
            "avg_round_s": round(mean(times), 4),
            "rounds_in_budget": in_budget[-1]["version"],
            "max_accuracy_budget": max(v["accuracy"] for v in in_budget),
            "final_accuracy_budget": in_budget[-1]["accuracy"],
            "mean_aggregated": round(mean(v["aggregated"] for v in first[1:]), 3),
        }
    return {
        "experiment": "sync",
        "options": opts.as_json(),
        "config": cfg.model_dump(mode="json"),
        "wall_s": round(sum(r["wall_s"] for r in runs.values()), 2),
        "timing": dataclasses.asdict(timing),
        "runs": runs,
        "summary": summary,
    }


def write(doc: dict[str, Any], opts: Options) -> None:
    out = opts.out
    s = doc["summary"]
    rounds = opts.n_rounds
    runs = doc["runs"]
    line_plot(
        out / "accuracy_rounds.png",
        {k: tuple(x[: rounds + 1] for x in report.curve(r)) for k, r in runs.items()},
        title=f"Accuracy over {rounds} rounds per scheme (paper Fig. 7)",
        xlabel="round",
        ylabel="test accuracy",
    )
    line_plot(
        out / "accuracy_time.png",
        {
            k: (
                [v["time_s"] for v in within(r, s["budget_s"])],
                [v["accuracy"] for v in within(r, s["budget_s"])],
            )
            for k, r in runs.items()
        },
        title=f"Accuracy over {s['budget_s']:.0f} virtual seconds per scheme (paper Fig. 8)",
        xlabel="virtual time (s)",
        ylabel="test accuracy",
    )
    lines = report.header("Experiment 3: synchronisation schemes", opts, doc)
    lines += [
        f"Trainer speeds {SPEEDS} (slowdown factors); BSP period {s['period_s']} s (virtual);"
        f" a speed-1 trainer trains for {doc['timing']['train_ms_per_epoch'] / 1000:.2f} s per"
        f" epoch; time budget {s['budget_s']:.0f} s = {rounds} x 1.05 BSP periods.",
        "",
        report.table(
            [
                "scheme",
                f"max acc ({rounds} rounds)",
                "at round",
                "top-3 mean",
                "mean acc",
                "avg round (s)",
                "updates/round",
                "rounds in budget",
                "max acc in budget",
                "final acc in budget",
            ],
            [
                [
                    k,
                    v["max_accuracy_rounds"],
                    v["max_at_round"],
                    v["top3_mean_rounds"],
                    v["mean_accuracy_rounds"],
                    v["avg_round_s"],
                    v["mean_aggregated"],
                    v["rounds_in_budget"],
                    v["max_accuracy_budget"],
                    v["final_accuracy_budget"],
                ]
                for k, v in s["schemes"].items()
            ],
        ),
        "",
        "![accuracy per round](accuracy_rounds.png)",
        "",
        "![accuracy over time](accuracy_time.png)",
    ]
    report.write(out, doc, "\n".join(lines))
