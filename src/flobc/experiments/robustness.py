"""Robustness (issue 8): attacks x defences x Byzantine trainer fraction x data partition.

Every cell is one simulated network (real validators, real ML, virtual time) in which the
last ``fraction x trainers`` trainers run an attack from the library
(:mod:`flobc.algorithms.attacks`) while the others are honest. A *defence* is an
aggregator with a validation rule and a reputation policy; ``fedavg+none`` (plain FedAvg,
no validation) is the control, ``fedavg+paper`` the paper's system, ``fedavg+robust`` the
default. The honest run of each (defence, partition) is shared by all its attacks.

Each cell of ``results.json`` holds the keys other tools read: ``attack``, ``defense``,
``byzantine_fraction``, ``partition``, ``final_accuracy``, ``max_accuracy``,
``honest_accuracy``, ``honest_false_rejection``, ``poison_rejection``,
``attack_success_rate`` and ``attacker_final_trust``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from flobc.experiments.settings import Options, make_config, sim_timing
from flobc.node_apps.fl.settings import FLRunConfig

#: Attack name -> its parameters in the grid (library defaults where empty). The backdoor
#: poisons half of each attacker's data (a stealthy implant: all of it is label flipping
#: in effect); the noise is the size of the paper's noisiest trainer's (Exp. 2).
ATTACKS: dict[str, dict[str, Any]] = {
    "label_flip": {},
    "backdoor": {"fraction": 0.5},
    "gaussian": {"std": 0.3},
    "sign_flip": {},
    "scaling": {},
    "free_ride_zero": {},
    "free_ride_replay": {},
    "free_ride_global": {},
    "alie": {},
    "ipm": {},
    "min_max": {},
    "min_sum": {},
}
#: Defence name -> configuration overrides (aggregator, validation rule, reputation).
DEFENSES: dict[str, dict[str, Any]] = {
    "fedavg+none": {
        "aggregation.rule": "fedavg",
        "validation.rule": "none",
        "reputation.policy": "uniform",
    },
    "fedavg+paper": {
        "aggregation.rule": "fedavg",
        "validation.rule": "paper",
        "reputation.policy": "reward_penalty",
    },
    "fedavg+robust": {"aggregation.rule": "fedavg", "validation.rule": "robust"},
    "median+none": {
        "aggregation.rule": "median",
        "validation.rule": "none",
        "reputation.policy": "uniform",
    },
    "median+robust": {"aggregation.rule": "median", "validation.rule": "robust"},
}
FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.45)
PARTITIONS: dict[str, dict[str, Any]] = {
    "iid": {"data.partition": "iid"},
    "dirichlet-0.5": {"data.partition": "dirichlet", "data.alpha": 0.5},
    "dirichlet-0.1": {"data.partition": "dirichlet", "data.alpha": 0.1},
}
#: The sub-grid of ``--quick`` (CI): the attacks the acceptance numbers name.
QUICK_GRID = {
    "attacks": ["sign_flip", "scaling", "label_flip", "free_ride_zero", "gaussian"],
    "defenses": ["fedavg+none", "fedavg+paper", "fedavg+robust"],
    "fractions": [0.0, 0.3],
    "partitions": ["iid"],
}
#: Trainers and validators of every cell: 20 trainers make 0.1 ... 0.45 whole numbers.
TRAINERS, VALIDATORS = 20, 4
QUICK_TRAINERS = 10


@dataclass(frozen=True)
class Cell:
    """One network to run: its labels and its configuration overrides."""

    attack: str  # "none" for the honest run
    defense: str
    fraction: float
    partition: str

    @property
    def label(self) -> str:
        return f"{self.defense}/{self.partition}/{self.attack}@{self.fraction:g}"


def grid(opts: Options) -> dict[str, list[Any]]:
    """The axes to run: the quick or full grid, narrowed by ``--grid AXIS=V1,V2``."""
    full = {
        "attacks": list(ATTACKS),
        "defenses": list(DEFENSES),
        "fractions": list(FRACTIONS),
        "partitions": list(PARTITIONS),
    }
    axes = dict(QUICK_GRID if opts.quick else full)
    for axis, values in opts.grid.items():
        if axis not in full:
            raise ValueError(f"--grid: unknown axis {axis!r}; known: {sorted(full)}")
        if axis == "fractions":
            picked = [float(v) for v in values]
            bad = [f for f in picked if not 0.0 <= f < 1.0]
        else:
            picked = list(values)
            known = {"attacks": ATTACKS, "defenses": DEFENSES, "partitions": PARTITIONS}[axis]
            bad = [v for v in picked if v not in known]
        if bad:
            raise ValueError(f"--grid {axis}: unknown or out-of-range values {bad}")
        axes[axis] = picked
    return axes


def n_trainers(opts: Options) -> int:
    return QUICK_TRAINERS if opts.quick else TRAINERS


def cells(axes: Mapping[str, list[Any]]) -> list[Cell]:
    """Honest runs first (one per defence and partition), then every attack cell."""
    out = []
    for defense in axes["defenses"]:
        for partition in axes["partitions"]:
            out.append(Cell("none", defense, 0.0, partition))
            for fraction in axes["fractions"]:
                if fraction > 0:
                    out += [Cell(a, defense, fraction, partition) for a in axes["attacks"]]
    return out


def config(opts: Options, cell: Cell) -> FLRunConfig:
    trainers = n_trainers(opts)
    attacks = (
        [{"name": cell.attack, "fraction": cell.fraction, "params": ATTACKS[cell.attack]}]
        if cell.fraction > 0
        else []
    )
    return make_config(
        opts,
        **{
            "network.trainers": trainers,
            "network.validators": VALIDATORS,
            "sync.scheme": "bsp",
            "sync.wait_for_all": True,
            "sync.period_s": 600.0,
            **PARTITIONS[cell.partition],
            **DEFENSES[cell.defense],
            "attacks": attacks,
        },
    )


def run_cell(opts: Options, cell: Cell) -> dict[str, Any]:
    """Run one cell and reduce it to the numbers the grid reports (in a worker process)."""
    from flobc.experiments.robustness_measures import backdoor_success, summarise
    from flobc.experiments.runner import run_sim

    cfg = config(opts, cell)
    measure = backdoor_success(cfg) if cell.attack == "backdoor" and cell.fraction else None
    result = run_sim(cell.label, cfg, sim_timing(cfg, opts), opts.n_rounds, measure=measure)
    return summarise(cell, result, sorted(cfg.attackers()))


def _run_all(opts: Options, todo: list[Cell]) -> list[dict[str, Any]]:
    """Every cell's summary, in ``todo`` order; progress goes to stderr as cells finish."""
    done: dict[int, dict[str, Any]] = {}
    started = time.perf_counter()

    def progress(i: int, summary: dict[str, Any]) -> None:
        done[i] = summary
        print(
            f"[{len(done)}/{len(todo)} {time.perf_counter() - started:.0f}s] {todo[i].label}: "
            f"final accuracy {summary['final_accuracy']:.4f}",
            file=sys.stderr,
            flush=True,
        )

    if opts.jobs <= 1:
        for i, cell in enumerate(todo):
            progress(i, run_cell(opts, cell))
    else:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # torch and fork do not mix
        with ProcessPoolExecutor(opts.jobs, mp_context=ctx) as pool:
            futures = {pool.submit(run_cell, opts, c): i for i, c in enumerate(todo)}
            for fut in as_completed(futures):
                progress(futures[fut], fut.result())
    return [done[i] for i in range(len(todo))]


def run(opts: Options, runner: Any) -> dict[str, Any]:
    """Run the grid (simulator only); return the results document."""
    from flobc.experiments.robustness_measures import cells_document

    if opts.runtime != "sim":
        raise ValueError("robustness runs in the simulator only (--runtime sim)")
    axes = grid(opts)
    todo = cells(axes)
    runs = _run_all(opts, todo)
    doc = cells_document(axes, runs)
    cfg = config(opts, todo[0])
    doc.update(
        {
            "experiment": "robustness",
            "options": opts.as_json(),
            "config": cfg.model_dump(mode="json"),
            "wall_s": round(sum(r["wall_s"] for r in runs), 2),
            "trainers": cfg.network.trainers,
            "validators": cfg.network.validators,
        }
    )
    return doc


def write(doc: dict[str, Any], opts: Options) -> None:
    from flobc.experiments.robustness_report import write_report

    write_report(doc, opts)
