"""What every experiment shares: the command-line options, the quick and full presets,
and the virtual ML costs of simulated runs.

Two presets:

* **quick** — the scikit-learn ``digits`` set (8x8, 1.4k training images) with
  ``small-cnn``, few rounds; seconds to a couple of minutes per experiment (used in CI).
* **full** — Fashion-MNIST with the paper's CNN (``paper-cnn``), 30 rounds, on a seeded
  subsample (``max_train_samples``) so that a whole sweep fits in about an hour of one CPU
  core; see ``docs/experiments.md`` for how this differs from the paper.

Presets are the defaults; ``Options.overrides`` (``--set KEY=VALUE``) change any run
configuration key in every arm.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flobc.node_apps.fl.settings import FLRunConfig, load_config
from flobc.sim.fl_network import SimTiming

RUNTIMES = ("sim", "processes")


@dataclass(frozen=True)
class Preset:
    """Dataset, model and training knobs of one preset."""

    dataset: str
    model: str
    rounds: int
    epochs: int
    lr: float
    batch_size: int
    max_train_samples: int
    max_test_samples: int
    #: Virtual cost of training one sample for one epoch / evaluating one sample (sim).
    train_ms_per_sample: float
    eval_ms_per_sample: float


#: Quick: digits + small-cnn. The virtual costs are those of a slow edge device, so that
#: an epoch on a trainer's 345 images takes ~1.7 s and training, not consensus, dominates.
QUICK = Preset("digits", "small-cnn", 8, 2, 0.005, 32, 0, 0, 5.0, 1.0)
#: Full: Fashion-MNIST + paper-cnn on 6k seeded training images (4.8k for trainers, 1.2k
#: held out for validators) and 3k test images, one epoch per round; 0.45 ms per sample and
#: epoch is paper-cnn's cost on one CPU thread.
FULL = Preset("fashion-mnist", "paper-cnn", 30, 1, 0.003, 32, 6_000, 3_000, 0.45, 0.15)


@dataclass
class Options:
    """The ``flobc experiment`` options shared by every experiment."""

    dataset: str | None = None
    data_dir: str | None = None
    rounds: int | None = None
    seed: int = 0
    quick: bool = False
    out: Path = Path("flobc-experiments")
    runtime: str = "sim"
    #: processes runtime: seconds one run may take before it is abandoned.
    timeout_s: float = 1800.0
    #: The command line that produced the run (recorded in results.json and report.md).
    command: str = ""
    #: ``--set`` overrides (dotted config keys), applied to every arm after its own settings.
    overrides: dict[str, Any] = field(default_factory=dict)
    #: robustness: the grid's axes to narrow (``--grid AXIS=V1,V2``)
    grid: dict[str, list[str]] = field(default_factory=dict)
    #: robustness: cells run in parallel processes
    jobs: int = 1
    #: simulator: where trainings and scoring run (``inprocess`` or ``ray``)
    executor: str = "inprocess"
    #: ``--executor ray``: the cluster to join (None: a local one)
    ray_address: str | None = None

    @property
    def preset(self) -> Preset:
        return QUICK if self.quick else FULL

    @property
    def n_rounds(self) -> int:
        return self.rounds or self.preset.rounds

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out)
        return d


def base_overrides(opts: Options) -> dict[str, Any]:
    """Dotted ``load_config`` overrides for the preset, dataset and seed."""
    p = opts.preset
    dataset = opts.dataset or p.dataset
    model = p.model
    if opts.quick and dataset != "digits":
        model = "paper-cnn"  # small-cnn is built for 8x8 inputs
    return {
        "seed": opts.seed,
        "model.name": model,
        "data.dataset": dataset,
        "data.data_dir": opts.data_dir,
        "data.max_train_samples": p.max_train_samples,
        "data.max_test_samples": p.max_test_samples,
        "training.epochs": p.epochs,
        "training.lr": p.lr,
        "training.batch_size": p.batch_size,
    }


def make_config(opts: Options, **overrides: Any) -> FLRunConfig:
    """One experiment arm's configuration: preset, then the arm's ``overrides``, then the
    user's ``--set`` overrides."""
    return load_config(None, **{**base_overrides(opts), **overrides, **opts.overrides})


def parse_override(text: str) -> tuple[str, Any]:
    """``"sync.period_s=5"`` -> ``("sync.period_s", 5)``; values are read as TOML values
    (numbers, booleans, ``[1, 2]``, quoted strings), anything else as a plain string."""
    import tomllib

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip(), value


def sim_timing(cfg: FLRunConfig, opts: Options) -> SimTiming:
    """Virtual ML costs from the per-sample costs and this run's data sizes.

    Training one epoch costs ``train_ms_per_sample`` x the trainer's partition size (a
    trainer's ``training.speed`` multiplies it in the simulator); one vote costs
    ``eval_ms_per_sample`` x the validator's share of the held-out validation data.
    """
    from flobc.node_apps.fl.trainer_core import dataset

    p = opts.preset
    ds = dataset(cfg)
    n_train = len(ds.x_train) * cfg.data.fraction
    n_val = len(ds.x_val) / cfg.network.validators
    return SimTiming(
        train_ms_per_epoch=max(1, round(p.train_ms_per_sample * n_train)),
        train_ms_per_step=max(1, round(p.train_ms_per_sample * cfg.training.batch_size)),
        eval_ms=max(1, round(p.eval_ms_per_sample * n_val)),
    )


def command_line(argv: list[str]) -> str:
    """A shell-quoted command line for the record."""
    return shlex.join(argv)
