"""The TOML configuration of a federated-learning network, validated with pydantic.

One file holds every knob of a run; ``flobc init --config``, ``flobc demo --config`` and
the experiments read it. Unknown keys and bad values are rejected with a clear message::

    seed = 0
    [network]  validators = 3, trainers = 7
    [model]    name = "small-cnn"
    [data]     dataset = "digits", partition = "iid", fraction = 0.3
    [training] epochs = 2, lr = 0.005, batch_size = 32, optimizer = "adam"
    [sync]     scheme = "bsp", period_s = 20, wait_for_all = true
    [reputation] policy = "beta"
    [validation] rule = "robust"
    [[attacks]]  name = "sign_flip", fraction = 0.3, params = { scale = 10 }
    [aggregation] rule = "fedavg", params = {}, clip_multiplier = 0.0, server_lr = 1.0
    [privacy]  enabled = true, epsilon_budget = 8, delta = 1e-5, clip = 1.0
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from flobc.algorithms.aggregators import AGGREGATORS, aggregator_from_name
from flobc.algorithms.attacks.validators import vote_behaviour
from flobc.algorithms.sync import DEFAULT_SYNC, SyncSettings, scheme_class
from flobc.algorithms.validation import DEFAULT_RULE, rule_from_name


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NetworkSection(_Section):
    validators: int = Field(3, ge=1, le=64)
    #: up to 100,000: simulations of 10,000+ trainers run on a Ray cluster (docs/sim-scale.md)
    trainers: int = Field(7, ge=1, le=100_000)


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
    #: An existing Flower client run as the trainers: "pkg.module:client_fn" or a ClientApp
    #: (see flobc.integrations.flower). ``flower_config`` is added to every round's fit
    #: config, ``flower_run_config`` to the Context's run_config.
    flower_client: str | None = None
    flower_config: dict[str, Any] = {}
    flower_run_config: dict[str, Any] = {}

    @model_validator(mode="after")
    def _work(self) -> TrainingSection:
        if self.epochs == 0 and self.steps == 0:
            raise ValueError("set epochs or steps to a positive number")
        if any(s <= 0 for s in self.speed):
            raise ValueError("speed factors must be positive")
        return self


_SYNC = DEFAULT_SYNC


class SyncSection(_Section):
    """``[sync]``: the genesis' :class:`~flobc.algorithms.sync.SyncSettings` in seconds (its
    defaults), plus the trainer-side ``share_every_steps``. :meth:`settings` is the
    genesis form."""

    scheme: str = _SYNC.scheme
    period_s: float = Field(_SYNC.period_ms / 1000, gt=0)
    wait_for_all: bool = _SYNC.wait_for_all
    majority_ratio: float = Field(_SYNC.majority_ratio, gt=0, le=1)
    max_round_s: float | None = Field(None, gt=0)
    ssp_max_extra_steps: int = Field(_SYNC.ssp_max_extra_steps, ge=0)
    asp_threshold: float = Field(_SYNC.asp_threshold, ge=0)
    #: BAP/SSP: how often a trainer shares its cumulative update (local steps).
    share_every_steps: int = Field(0, ge=0)
    adaptive: bool = _SYNC.adaptive
    adaptive_percentile: float = Field(_SYNC.adaptive_percentile, gt=0, le=100)
    adaptive_min_s: float = Field(_SYNC.adaptive_min_ms / 1000, gt=0)
    adaptive_max_s: float = Field(_SYNC.adaptive_max_ms / 1000, gt=0)

    @field_validator("scheme")
    @classmethod
    def _scheme(cls, value: str) -> str:
        return scheme_class(value).name  # ValueError names the registered schemes

    @model_validator(mode="after")
    def _consistent(self) -> SyncSection:
        self.settings()  # the ledger's own checks (e.g. adaptive_min_s <= adaptive_max_s)
        return self

    def settings(self) -> SyncSettings:
        """These settings as the genesis records them (milliseconds)."""
        return SyncSettings(
            scheme=self.scheme,
            period_ms=int(self.period_s * 1000),
            wait_for_all=self.wait_for_all,
            majority_ratio=self.majority_ratio,
            max_round_ms=int(self.max_round_s * 1000) if self.max_round_s else None,
            ssp_max_extra_steps=self.ssp_max_extra_steps,
            asp_threshold=self.asp_threshold,
            adaptive=self.adaptive,
            adaptive_percentile=self.adaptive_percentile,
            adaptive_min_ms=int(self.adaptive_min_s * 1000),
            adaptive_max_ms=int(self.adaptive_max_s * 1000),
        )


class ReputationSection(_Section):
    policy: Literal["beta", "reward_penalty", "uniform"] = "beta"
    reward: float = Field(1.0, ge=0)
    penalty: float = Field(2.0, ge=0)
    #: The paper's acceptance threshold; setting it selects the ``paper`` validation rule
    #: (unless ``[validation] rule`` names another), as configurations before the rule
    #: registry meant.
    acceptance_threshold: float | None = None


class ValidationSection(_Section):
    """Which rule decides updates from validators' votes (flobc.algorithms.validation)."""

    rule: str | None = None  # robust (default) | paper | none
    params: dict[str, float] = {}

    @model_validator(mode="after")
    def _known(self) -> ValidationSection:
        if self.rule is not None or self.params:
            rule_from_name(self.rule or DEFAULT_RULE, **self.params)  # names the problem
        return self


class AggregationSection(_Section):
    """How accepted updates become the next model (written into the genesis).

    ``rule`` names a registered aggregator (``fedavg``, ``median``, ``trimmed_mean``,
    ``krum``, ``multi_krum``, ``geometric_median``, ``centered_clipping``), ``params`` its
    parameters, ``clip_multiplier > 0`` adds the norm-clipping pre-step. A bad rule or
    parameter is refused here, before any process starts, rather than at genesis load.
    """

    rule: str = "fedavg"
    params: dict[str, float] = {}
    clip_multiplier: float = Field(0.0, ge=0)
    weight_by_samples: bool = False
    server_lr: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _rule(self) -> AggregationSection:
        key = self.rule.strip().lower().replace("-", "_")
        if key not in AGGREGATORS:
            raise ValueError(
                f"aggregation.rule: unknown aggregator {self.rule!r}; known: {sorted(AGGREGATORS)}"
            )
        if self.weight_by_samples and key != "fedavg":
            raise ValueError(
                f"aggregation.weight_by_samples: applies only to rule = 'fedavg', not {key!r}"
            )
        try:
            aggregator_from_name(key, clip_multiplier=self.clip_multiplier, **self.params)
        except ValueError as exc:
            raise ValueError(f"aggregation.params: {exc}") from None
        self.rule = key
        return self


class ByzantineValidatorSection(_Section):
    """Validators that lie in their votes (flobc.algorithms.attacks.validators)."""

    behaviour: str
    validators: list[int]

    @model_validator(mode="after")
    def _known(self) -> ByzantineValidatorSection:
        vote_behaviour(self.behaviour)  # ValueError names the known behaviours
        if not self.validators:
            raise ValueError("list at least one validator index")
        return self


class AttackEntry(_Section):
    """Byzantine trainers: which ones run which attack (:mod:`flobc.algorithms.attacks`).

    ``trainers`` lists indices; ``fraction`` picks the LAST ``floor(fraction x trainers)``
    indices, so that trainer 0 (the paper's noise-free reference) stays honest and growing
    the fraction only adds attackers. The trainers of one entry are one collusion group:
    with ``sybil`` they send byte-identical poison (the group's first trainer's), and
    colluding attacks use the honest updates of the group's first ``max_reference``
    trainers as their reference while the ledger shows none of the round.
    """

    #: a registry name (``flobc.algorithms.attacks.ATTACKS``) or a ``module:function`` plug-in
    name: str
    trainers: list[int] | None = None
    fraction: float | None = Field(None, gt=0, lt=1)
    params: dict[str, Any] = {}
    sybil: bool = False
    max_reference: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _check(self) -> AttackEntry:
        if (self.trainers is None) == (self.fraction is None):
            raise ValueError(f"attack {self.name!r}: give either trainers = [...] or fraction")
        if self.trainers is not None:
            if not self.trainers:
                raise ValueError(f"attack {self.name!r}: trainers is empty")
            if len(set(self.trainers)) != len(self.trainers):
                raise ValueError(f"attack {self.name!r}: a trainer is listed twice")
            if min(self.trainers) < 0:
                raise ValueError(f"attack {self.name!r}: trainer indices are >= 0")
        attack = self.build()
        if self.sybil and attack.kind != "model":
            raise ValueError(f"attack {self.name!r}: sybil needs a model attack")
        return self

    def build(self) -> Any:
        """The attack object (resolving a ``module:function`` plug-in)."""
        from flobc.algorithms.attacks import attack_from_callable, attack_from_name, is_plugin_name

        if not is_plugin_name(self.name):
            return attack_from_name(self.name, **self.params)
        from flobc.ml.plugins import resolve_callable

        return attack_from_callable(self.name, resolve_callable(self.name), self.params)

    def indices(self, n_trainers: int) -> list[int]:
        """The attacking trainer indices, sorted."""
        if self.trainers is not None:
            return sorted(self.trainers)
        assert self.fraction is not None
        k = math.floor(self.fraction * n_trainers + 1e-9)
        return list(range(n_trainers - k, n_trainers))


class PrivacyOverride(_Section):
    """One trainer's deviations from the network's ``[privacy]`` settings."""

    mechanism: Literal["gaussian", "dpsgd"] | None = None
    epsilon_budget: float | None = None
    clip: float | None = None
    noise_multiplier: float | None = None


class PrivacySection(_Section):
    """Differential privacy of trainer updates (see :mod:`flobc.node_apps.fl.privacy`).

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


class SubnetSection(_Section):
    """One model subnetwork (``[[subnets]]``, paper §IV.C): its own trainers, validators
    (chain validator indices) and any sections that differ from the top-level ones, which
    every subnetwork inherits (see :mod:`flobc.node_apps.fl.subnets`)."""

    name: str
    validators: list[int] = Field(min_length=1)
    trainers: int = Field(4, ge=1, le=1000)
    model: dict[str, Any] = {}
    data: dict[str, Any] = {}
    training: dict[str, Any] = {}
    sync: dict[str, Any] = {}
    reputation: dict[str, Any] = {}
    validation: dict[str, Any] = {}
    aggregation: dict[str, Any] = {}


class FLRunConfig(_Section):
    """Everything about one FL network run."""

    seed: int = 0
    network: NetworkSection = NetworkSection()
    model: ModelSection = ModelSection()
    data: DataSection = DataSection()
    training: TrainingSection = TrainingSection()
    sync: SyncSection = SyncSection()
    reputation: ReputationSection = ReputationSection()
    validation: ValidationSection = ValidationSection()
    aggregation: AggregationSection = AggregationSection()
    privacy: PrivacySection = PrivacySection()
    open_registration: bool = False
    byzantine_validators: list[ByzantineValidatorSection] = []
    attacks: list[AttackEntry] = []
    #: model subnetworks; none: the one implicit subnetwork of the top-level sections
    subnets: list[SubnetSection] = []

    @model_validator(mode="after")
    def _byzantine_in_range(self) -> FLRunConfig:
        seen: set[int] = set()
        for b in self.byzantine_validators:
            for i in b.validators:
                if not 0 <= i < self.network.validators:
                    raise ValueError(
                        f"byzantine_validators: no validator {i} "
                        f"(the network has {self.network.validators})"
                    )
                if i in seen:
                    raise ValueError(f"byzantine_validators: validator {i} is listed twice")
                seen.add(i)
        return self

    def validator_behaviour(self, index: int) -> str | None:
        """How validator ``index`` lies in its votes, or None for an honest validator."""
        for b in self.byzantine_validators:
            if index in b.validators:
                return b.behaviour
        return None

    @model_validator(mode="after")
    def _attackers(self) -> FLRunConfig:
        n, seen = self.network.trainers, dict[int, str]()
        for entry in self.attacks:
            if not entry.indices(n):
                raise ValueError(
                    f"attack {entry.name!r}: fraction {entry.fraction} of {n} trainers "
                    "selects none (the attackers are the last floor(fraction x trainers))"
                )
            for i in entry.indices(n):
                if i >= n:
                    raise ValueError(
                        f"attack {entry.name!r}: trainer {i} does not exist "
                        f"(network.trainers = {n}, indices 0..{n - 1})"
                    )
                if i in seen:
                    raise ValueError(
                        f"trainer {i} is given two attacks: {seen[i]!r} and {entry.name!r}"
                    )
                seen[i] = entry.name
        if self.attacks and self.training.noise_k > 0:
            raise ValueError(
                "training.noise_k (the paper's noisy trainers) and [[attacks]] are exclusive; "
                'use [[attacks]] name = "gaussian" for noise on chosen trainers'
            )
        return self

    def attack_entry(self, trainer: int) -> AttackEntry | None:
        """The ``[[attacks]]`` entry trainer ``trainer`` runs, if any."""
        for entry in self.attacks:
            if trainer in entry.indices(self.network.trainers):
                return entry
        return None

    def attackers(self) -> frozenset[int]:
        """Every attacking trainer index."""
        n = self.network.trainers
        return frozenset(i for e in self.attacks for i in e.indices(n))

    @model_validator(mode="after")
    def _flower_model(self) -> FLRunConfig:
        if self.model.name == "flower" and not self.training.flower_client:
            raise ValueError('[model] name = "flower" needs [training] flower_client')
        if self.model.name == "flower" and self.validation_rule()[0] == "robust":
            raise ValueError(
                "validation.rule: the robust rule runs the model on per-sample losses, which "
                '[model] name = "flower" cannot; name a FLoBC model or use rule = "paper"'
            )
        return self

    def speed_of(self, trainer: int) -> float:
        s = self.training.speed
        return s[trainer] if trainer < len(s) else 1.0

    def noise_std(self, trainer: int) -> float:
        return self.training.noise_k * trainer

    def validation_rule(self) -> tuple[str, dict[str, float]]:
        """The validation rule's name and parameters, as the genesis records them."""
        v, threshold = self.validation, self.reputation.acceptance_threshold
        name = v.rule or ("paper" if threshold is not None else DEFAULT_RULE)
        params = dict(v.params)
        if name == "paper" and threshold is not None:
            params.setdefault("threshold", threshold)
        return name, params


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
        raise ConfigError(f"{where}invalid configuration: {describe(exc)}") from exc


def describe(exc: ValidationError) -> str:
    """Every problem on one line, each as ``field.path: message``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)
