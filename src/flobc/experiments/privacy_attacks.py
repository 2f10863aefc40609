"""Poisoning under differential privacy: attackers that also declare DP, default rule.

At each mechanism's ε = 8, 30% of the benchmark's trainers (2 of 7) attack and then
apply the same DP as everyone (the attack transforms Δ, the mechanism clips and noises
it, the claim is signed). What the default ``robust`` rule rejects of their updates and of
the honest trainers' shows what validation can still see through the declared noise
(:mod:`flobc.algorithms.validation.noise`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flobc.experiments.robustness_measures import rejection_share
from flobc.experiments.runner import RunResult
from flobc.node_apps.fl.settings import FLRunConfig

#: The issue's attacks, with the robustness grid's parameters.
ATTACKS: dict[str, dict[str, Any]] = {
    "sign_flip": {},
    "scaling": {},
    "label_flip": {},
    "gaussian": {"std": 0.3},
    "free_ride_zero": {},
}
FRACTION = 0.3
EPSILON = 8.0


def attack_overrides(attack: str) -> dict[str, Any]:
    return {"attacks": [{"name": attack, "fraction": FRACTION, "params": ATTACKS[attack]}]}


def attack_cell(
    mechanism: str,
    attack: str,
    cfg: FLRunConfig,
    run: Callable[[str, FLRunConfig], RunResult],
) -> tuple[dict[str, Any], RunResult]:
    """Run one (mechanism, attack) network; its row and the run."""
    res = run(f"{mechanism} eps={EPSILON:g} {attack}@{FRACTION:g}", cfg)
    bad = [str(i) for i in sorted(cfg.attackers())]
    decisions = res.extra["decisions"]
    honest = [t for t in decisions if t not in bad]
    best, _ = res.best()
    row = {
        "mechanism": mechanism,
        "epsilon": EPSILON,
        "attack": attack,
        "byzantine_fraction": FRACTION,
        "attackers": [int(t) for t in bad],
        "poison_rejection": rejection_share(decisions, bad),
        "honest_false_rejection": rejection_share(decisions, honest),
        "final_accuracy": res.accuracies[-1],
        "max_accuracy": best,
    }
    return row, res


def report_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The report's section on attackers that declare DP."""
    from flobc.experiments import report

    if not rows:
        return []
    return [
        f"## Attackers that also declare DP ({FRACTION:.0%} of trainers, ε = {EPSILON:g})",
        "",
        "The attack transforms the trainer's Δ, then the mechanism clips and noises it and"
        " the claim is signed, as an honest trainer's. Default `robust` rule.",
        "",
        report.table(
            [
                "mechanism",
                "attack",
                "poison rejected",
                "honest false rejection",
                "final acc",
                "max acc",
            ],
            [
                [
                    r["mechanism"],
                    r["attack"],
                    r["poison_rejection"],
                    r["honest_false_rejection"],
                    r["final_accuracy"],
                    r["max_accuracy"],
                ]
                for r in rows
            ],
        ),
        "",
    ]
