"""The TOML configuration of a federated-learning network, validated with pydantic.

One file holds every knob of a run; ``flobc init --config``, ``flobc demo --config`` and
the experiments read it. Unknown keys and bad values are rejected with a clear message::

    seed = 0
    [network]  validators = 3, trainers = 7
    [model]    name = "small-cnn"
    [data]     dataset = "digits", partition = "iid", fraction = 0.3
    [training] epochs = 2, lr = 0.005, batch_size = 32, optimizer = "adam"
    [sync]     scheme = "bsp", period_s = 20, wait_for_all = true
    [reputation] policy = "reward_penalty", acceptance_threshold = 0.0
    [privacy]  enabled = true, epsilon_budget = 8, delta = 1e-5, clip = 1.0
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NetworkSection(_Section):
    validators: int = Field(3, ge=1, le=64)
    trainers: int = Field(7, ge=1, le=1000)


class ModelSection(_Section):
    name: str = "small-cnn"
    options: dict[str, Any] = {}


class DataSection(_Section):
    dataset: str = "digits"
    data_dir: str | None = None
    partition: Literal["iid", "disjoint", "dirichlet", "shards"] = "iid"
    #: IID partition: the fraction of the training set each trainer draws (paper: 0.3).
    fraction: float = Field(0.3, gt=0, le=1)
    alpha: float = Field(0.5, gt=0)
    shards_per_trainer: int = Field(2, ge=1)
    #: Share of the training set held out for validators (disjoint from trainers' data).
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    #: Use at most this many training samples (quick runs); 0 = all.
    max_train_samples: int = Field(0, ge=0)
    max_test_samples: int = Field(0, ge=0)


class TrainingSection(_Section):
    epochs: int = Field(2, ge=0)
    steps: int = Field(0, ge=0)
    lr: float = Field(0.005, gt=0)
    batch_size: int = Field(32, ge=1)
    optimizer: Literal["sgd", "adam"] = "adam"
    metric: str = "accuracy"
    #: Per-trainer slowdown factors (the paper's "different paces"); missing = 1.0.
    speed: list[float] = []
    #: Experiment 2: trainer i's updates get Gaussian noise with std noise_k * i.
    noise_k: float = Field(0.0, ge=0)
    #: User plug-ins, "module:function".
    train_fn: str | None = None
    eval_fn: str | None = None

    @model_validator(mode="after")
    def _work(self) -> TrainingSection:
        if self.epochs == 0 and self.steps == 0:
            raise ValueError("set epochs or steps to a positive number")
        if any(s <= 0 for s in self.speed):
            raise ValueError("speed factors must be positive")
        return self


class SyncSection(_Section):
    scheme: Literal["bsp", "ssp", "bap", "asp"] = "bsp"
    period_s: float = Field(20.0, gt=0)
    wait_for_all: bool = True
    majority_ratio: float = Field(1.0, gt=0, le=1)
    max_round_s: float | None = Field(None, gt=0)
    ssp_max_extra_steps: int = Field(20, ge=0)
    asp_threshold: float = Field(0.0, ge=0)
    #: BAP/SSP: how often a trainer shares its cumulative update (local steps).
    share_every_steps: int = Field(0, ge=0)
    adaptive: bool = False
    adaptive_percentile: float = Field(90.0, gt=0, le=100)
    adaptive_min_s: float = Field(1.0, gt=0)
    adaptive_max_s: float = Field(600.0, gt=0)


class ReputationSection(_Section):
    policy: Literal["reward_penalty", "uniform"] = "reward_penalty"
    reward: float = Field(1.0, ge=0)
    penalty: float = Field(2.0, ge=0)
    acceptance_threshold: float = 0.0


class AggregationSection(_Section):
    weight_by_samples: bool = False
    server_lr: float = Field(1.0, gt=0)


class PrivacyOverride(_Section):
    """One trainer's deviations from the network's ``[privacy]`` settings."""

    mechanism: Literal["gaussian", "dpsgd"] | None = None
    epsilon_budget: float | None = None
    clip: float | None = None
    noise_multiplier: float | None = None


class PrivacySection(_Section):
    """Differential privacy of trainer updates (see :mod:`flobc.node.privacy`).

    ``noise_multiplier`` unset: each trainer derives the smallest σ that spends at most
    ``epsilon_budget`` over ``planned_rounds`` updates. ``required``, ``min_noise_multiplier``,
    ``max_clip``, ``epsilon_budget`` and ``delta`` go into the genesis and validators enforce
    them; ``trainer."3".clip = 0.5`` overrides one trainer (budget only downwards).
    """

    enabled: bool = False
    mechanism: Literal["gaussian", "dpsgd"] = "gaussian"
    epsilon_budget: float = 8.0
    delta: float = 1e-5
    clip: float = 1.0
    noise_multiplier: float | None = None
    planned_rounds: int = Field(30, ge=1)
    required: bool = True
    min_noise_multiplier: float = Field(0.0, ge=0)
    #: 0 = no maximum
    max_clip: float = Field(0.0, ge=0)
    trainer: dict[str, PrivacyOverride] = {}

    @model_validator(mode="after")
    def _valid(self) -> PrivacySection:
        from flobc.algorithms.privacy import validate

        validate(self.epsilon_budget, self.delta, self.clip, self.noise_multiplier)
        for key, o in self.trainer.items():
            if not key.isdigit():
                raise ValueError(f"privacy.trainer keys are trainer indices, got {key!r}")
            budget = self.epsilon_budget if o.epsilon_budget is None else o.epsilon_budget
            validate(
                budget,
                self.delta,
                self.clip if o.clip is None else o.clip,
                o.noise_multiplier,
            )
            if budget > self.epsilon_budget:
                raise ValueError(
                    f"privacy.trainer.{key}: epsilon_budget {budget} exceeds the network's"
                    f" {self.epsilon_budget}"
                )
        return self


class FLRunConfig(_Section):
    """Everything about one FL network run."""

    seed: int = 0
    network: NetworkSection = NetworkSection()
    model: ModelSection = ModelSection()
    data: DataSection = DataSection()
    training: TrainingSection = TrainingSection()
    sync: SyncSection = SyncSection()
    reputation: ReputationSection = ReputationSection()
    aggregation: AggregationSection = AggregationSection()
    privacy: PrivacySection = PrivacySection()
    open_registration: bool = False

    def speed_of(self, trainer: int) -> float:
        s = self.training.speed
        return s[trainer] if trainer < len(s) else 1.0

    def noise_std(self, trainer: int) -> float:
        return self.training.noise_k * trainer


class ConfigError(ValueError):
    """A configuration file that cannot be used, with every problem listed."""


def load_config(path: Path | None, **overrides: Any) -> FLRunConfig:
    """Read ``path`` (or defaults) and apply dotted overrides like ``{"sync.scheme": "ssp"}``."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = raw
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    try:
        return FLRunConfig.model_validate(raw)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}invalid configuration:\n{exc}") from exc
