"""``flobc experiment robustness``: the grid, its JSON layout, and a negative control per
attack (it hurts plain FedAvg without validation; the default defence holds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flobc.cli.main import cli
from flobc.experiments import robustness
from flobc.experiments.robustness_measures import CELL_KEYS, cells_document
from flobc.experiments.settings import Options

ATTACKS = list(robustness.ATTACKS)
#: Attacks that visibly hurt FedAvg without validation within a 4-round run.
HARMFUL = ("sign_flip", "scaling", "label_flip", "gaussian")
#: Attacks whose poison FedAvg without validation takes in, and the default defence rejects.
REJECTED = (*HARMFUL, "ipm", "free_ride_zero", "free_ride_global")


def test_grid_axes_are_narrowed_and_checked() -> None:
    opts = Options(quick=True, grid={"attacks": ["sign_flip"], "fractions": ["0", "0.3"]})
    axes = robustness.grid(opts)
    assert axes["attacks"] == ["sign_flip"] and axes["fractions"] == [0.0, 0.3]
    cells = robustness.cells(axes)
    assert [c.attack for c in cells].count("none") == len(axes["defenses"])
    for bad in ({"attack": ["x"]}, {"attacks": ["nope"]}, {"fractions": ["1.0"]}):
        with pytest.raises(ValueError, match="--grid"):
            robustness.grid(Options(quick=True, grid=bad))


def test_cells_attack_the_last_floor_fraction_of_trainers() -> None:
    opts = Options(quick=True)
    cfg = robustness.config(opts, robustness.Cell("sign_flip", "fedavg+robust", 0.45, "iid"))
    assert sorted(cfg.attackers()) == [6, 7, 8, 9]
    honest = robustness.config(opts, robustness.Cell("none", "fedavg+robust", 0.0, "iid"))
    assert honest.attacks == [] and cfg.validation_rule()[0] == "robust"


def test_honest_run_stands_for_every_attack_at_fraction_zero() -> None:
    axes = {
        "attacks": ["a", "b"],
        "defenses": ["d"],
        "fractions": [0.0, 0.3],
        "partitions": ["iid"],
    }
    honest = {
        "attack": "none",
        "defense": "d",
        "partition": "iid",
        "byzantine_fraction": 0.0,
        "final_accuracy": 0.9,
    }
    hit = {**honest, "attack": "a", "byzantine_fraction": 0.3, "final_accuracy": 0.5}
    doc = cells_document(axes, [honest, hit])
    assert [(c["attack"], c["byzantine_fraction"]) for c in doc["cells"]] == [
        ("a", 0.0),
        ("b", 0.0),
        ("a", 0.3),
    ]
    assert all(set(c) == set(CELL_KEYS) for c in doc["cells"])
    assert all(c["honest_accuracy"] == 0.9 for c in doc["cells"])


def test_cli_names_a_bad_grid_axis_in_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli,
        [
            "experiment",
            "robustness",
            "--quick",
            "--out",
            str(tmp_path),
            "--grid",
            "attacks=teleport",
        ],
    )
    assert res.exit_code != 0 and "--grid attacks" in res.output
    assert "Traceback" not in res.output


@pytest.fixture(scope="module")
def grid_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every attack at 30% against FedAvg without validation and the default defence."""
    out = tmp_path_factory.mktemp("robustness")
    opts = Options(
        quick=True,
        rounds=4,
        out=out,
        jobs=2,
        grid={
            "defenses": ["fedavg+none", "fedavg+robust"],
            "fractions": ["0", "0.3"],
            "attacks": ATTACKS,
        },
    )
    doc = robustness.run(opts, None)
    robustness.write(doc, opts)
    assert (out / "report.md").exists() and (out / "accuracy-iid-0.3.png").exists()
    return doc


def _cell(doc: dict[str, Any], attack: str, defense: str) -> dict[str, Any]:
    return next(
        c
        for c in doc["cells"]
        if c["attack"] == attack and c["defense"] == defense and c["byzantine_fraction"] == 0.3
    )


@pytest.mark.slow
@pytest.mark.parametrize("attack", ATTACKS)
def test_each_attack_against_no_defence_and_the_default(
    grid_doc: dict[str, Any], attack: str
) -> None:
    control = _cell(grid_doc, attack, "fedavg+none")
    default = _cell(grid_doc, attack, "fedavg+robust")
    # the default holds: honest work kept, accuracy within 2 points of the all-honest run
    assert default["honest_false_rejection"] <= 0.05, default
    assert default["final_accuracy"] >= default["honest_accuracy"] - 0.02, default
    if attack in HARMFUL:  # without validation the attack bites
        assert control["final_accuracy"] <= control["honest_accuracy"] - 0.01, control
    if attack in REJECTED:  # without validation the poison gets in, with it none does
        assert control["poison_rejection"] == 0.0 and control["attacker_final_trust"] > 0
        assert default["poison_rejection"] >= 0.95, default
        assert default["attacker_final_trust"] == 0.0, default
    if attack == "backdoor":  # without validation the trigger is learnt
        assert control["attack_success_rate"] >= 0.10, control


@pytest.mark.slow
def test_median_with_the_robust_rule_stops_the_backdoor(grid_doc: dict[str, Any]) -> None:
    """The robust rule alone cannot see a trigger its validation data lacks (the default
    lets the implant through in short runs); the coordinate median filters it out."""
    opts = Options(quick=True, rounds=4)
    cell = robustness.run_cell(opts, robustness.Cell("backdoor", "median+robust", 0.3, "iid"))
    control = _cell(grid_doc, "backdoor", "fedavg+none")
    assert cell["attack_success_rate"] <= 0.05 < control["attack_success_rate"], cell
    assert cell["final_accuracy"] >= control["honest_accuracy"] - 0.02, cell
