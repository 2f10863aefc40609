"""Heatmaps and ``report.md`` of the robustness grid, next to the issue's targets and the
published anchors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flobc.experiments import report
from flobc.experiments.plots import heatmap
from flobc.experiments.settings import Options

DEFAULT_DEFENSE = "fedavg+robust"
#: Attacks whose poisoned updates the default defence must reject (>= 95% at 30%).
MUST_REJECT = ("sign_flip", "scaling", "gaussian", "label_flip", "free_ride_zero")
#: ByzFL (Gonzalez et al.) worst case on MNIST, Dirichlet alpha = 0.1, 10 honest clients
#: plus f Byzantine: f -> worst accuracy over their attacks and robust aggregators.
BYZFL_WORST = {2: 0.61, 3: 0.26, 4: 0.27}


def _find(cells: Sequence[dict[str, Any]], **key: Any) -> dict[str, Any] | None:
    for c in cells:
        if all(c[k] == v for k, v in key.items()):
            return c
    return None


def _matrix(
    cells: Sequence[dict[str, Any]], rows: list[str], cols: list[str], field: str, **key: Any
) -> list[list[float | None]]:
    out = []
    for a in rows:
        row = []
        for d in cols:
            c = _find(cells, attack=a, defense=d, **key)
            row.append(None if c is None else c[field])
        out.append(row)
    return out


def write_report(doc: dict[str, Any], opts: Options) -> None:
    out = opts.out
    cells, axes = doc["cells"], doc["axes"]
    attacks, defenses = axes["attacks"], axes["defenses"]
    fractions = [f for f in axes["fractions"] if f > 0]
    lines = report.header("Robustness: attacks x defences", opts, doc)
    lines += [
        f"{doc['trainers']} trainers, {doc['validators']} validators, BSP waiting for every "
        "trainer. Attackers are the last `floor(fraction x trainers)` trainers (0.45 of 10 "
        "is 4). Defences are "
        "`aggregator+validation rule`: `fedavg+none` is the no-defence control, "
        "`fedavg+paper` the paper's system (accuracy-gain rule, reward-penalty trust), "
        "`fedavg+robust` the default.",
        "",
    ]
    lines += _targets(doc)
    for partition in axes["partitions"]:
        lines += [f"## Partition: {partition}", ""]
        for f in fractions:
            name = f"accuracy-{partition}-{f:g}.png"
            heatmap(
                out / name,
                attacks,
                defenses,
                _matrix(
                    cells,
                    attacks,
                    defenses,
                    "final_accuracy",
                    byzantine_fraction=f,
                    partition=partition,
                ),
                title=f"final test accuracy, {f:.0%} attackers, {partition}",
            )
            lines += [f"![final accuracy at {f:g}]({name})", ""]
        rows = []
        for d in defenses:
            honest = _find(cells, defense=d, partition=partition, byzantine_fraction=0.0)
            rows.append(
                [
                    d,
                    honest and honest["final_accuracy"],
                    honest and honest["honest_false_rejection"],
                ]
            )
        lines += [
            "All trainers honest:",
            "",
            report.table(["defence", "final accuracy", "honest updates rejected"], rows),
            "",
        ]
        table_rows = [
            [
                c["attack"],
                c["defense"],
                c["byzantine_fraction"],
                c["final_accuracy"],
                c["honest_accuracy"],
                c["honest_false_rejection"],
                c["poison_rejection"],
                c["attacker_final_trust"],
                c["attack_success_rate"],
            ]
            for c in cells
            if c["partition"] == partition and c["byzantine_fraction"] > 0
        ]
        lines += [
            "Every attacked cell:",
            "",
            report.table(
                [
                    "attack",
                    "defence",
                    "fraction",
                    "final acc.",
                    "honest acc.",
                    "honest rejected",
                    "poison rejected",
                    "attacker trust",
                    "backdoor success",
                ],
                table_rows,
            ),
            "",
        ]
    if "backdoor" in attacks:
        name = "backdoor-success.png"
        rows_f = [f"{f:.0%}" for f in fractions]
        heatmap(
            out / name,
            rows_f,
            defenses,
            [
                [
                    (c or {}).get("attack_success_rate")
                    for c in (
                        _find(
                            cells,
                            attack="backdoor",
                            defense=d,
                            byzantine_fraction=f,
                            partition=axes["partitions"][0],
                        )
                        for d in defenses
                    )
                ]
                for f in fractions
            ],
            title=f"backdoor attack success rate ({axes['partitions'][0]})",
            cmap="RdYlGn_r",
        )
        lines += ["## Backdoor", "", f"![backdoor success]({name})", ""]
    report.write(out, doc, "\n".join(lines))


def _targets(doc: dict[str, Any]) -> list[str]:
    """The issue's numbers, measured (only those the grid that ran can answer)."""
    cells = doc["cells"]
    rows: list[list[Any]] = []
    d = DEFAULT_DEFENSE
    for partition in doc["axes"]["partitions"]:
        c = _find(cells, defense=d, partition=partition, byzantine_fraction=0.0)
        if c:
            ok = c["honest_false_rejection"] is not None and c["honest_false_rejection"] <= 0.05
            rows.append(
                [
                    f"honest updates rejected, all honest, {partition}",
                    "<= 0.05",
                    c["honest_false_rejection"],
                    _mark(ok),
                ]
            )
    for attack in MUST_REJECT:
        c = _find(cells, attack=attack, defense=d, partition="iid", byzantine_fraction=0.3)
        if c:
            ok = c["poison_rejection"] is not None and c["poison_rejection"] >= 0.95
            rows.append(
                [f"poison rejected, {attack} at 30%", ">= 0.95", c["poison_rejection"], _mark(ok)]
            )
    for frac, tol in ((0.3, 0.01), (0.45, 0.02)):
        for attack in doc["axes"]["attacks"]:
            c = _find(cells, attack=attack, defense=d, partition="iid", byzantine_fraction=frac)
            if c:
                gap = round(c["honest_accuracy"] - c["final_accuracy"], 4)
                rows.append(
                    [
                        f"accuracy drop, {attack} at {frac:.0%} (iid)",
                        f"<= {tol}",
                        gap,
                        _mark(gap <= tol),
                    ]
                )
    c = _find(cells, attack="backdoor", defense=d, partition="iid", byzantine_fraction=0.2)
    if c and c["attack_success_rate"] is not None:
        rows.append(
            [
                "backdoor success at 20%",
                "<= 0.05",
                c["attack_success_rate"],
                _mark(c["attack_success_rate"] <= 0.05),
            ]
        )
    if not rows:
        return []
    return [
        "## Against the targets (default defence: `fedavg+robust`)",
        "",
        report.table(["what", "target", "measured", ""], rows),
        "",
        f"ByzFL's published worst case (MNIST, Dirichlet alpha 0.1, 10 honest + f Byzantine): "
        f"{', '.join(f'f={f}: {a}' for f, a in BYZFL_WORST.items())}. Ours for "
        "`dirichlet-0.1` are in that partition's table below.",
        "",
    ]


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"
