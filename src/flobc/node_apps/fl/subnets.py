"""Run configurations and genesis of model subnetworks (``[[subnets]]``, paper §IV.C).

Each ``[[subnets]]`` table is a full run configuration of its own: the top-level sections
with the table's sections merged over them, ``network.validators`` the number of chain
validators it names and ``network.trainers`` its trainer count. Everything per role (data
partitions, evaluators, trainers) then works on that configuration unchanged, with the
validator's position in the subnetwork as its index.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from flobc.app.fl.subnets import NAME_RE
from flobc.node_apps.fl.genesis import fl_app_state
from flobc.node_apps.fl.settings import ConfigError, FLRunConfig, describe

#: The sections a ``[[subnets]]`` table may override.
SECTIONS = ("model", "data", "training", "sync", "reputation", "validation", "aggregation")


@dataclass(frozen=True)
class SubnetRun:
    """One subnetwork of a run: its name, chain validator indices and run configuration."""

    name: str
    validators: tuple[int, ...]
    cfg: FLRunConfig

    def position(self, validator: int) -> int | None:
        """Chain validator ``validator``'s index within this subnetwork, if it validates it."""
        return self.validators.index(validator) if validator in self.validators else None


def subnet_runs(cfg: FLRunConfig) -> list[SubnetRun]:
    """The subnetworks of ``cfg`` in order; :class:`ConfigError` naming the field for one
    that cannot run. Empty when ``cfg`` has no ``[[subnets]]``."""
    if not cfg.subnets:
        return []
    if cfg.attacks or cfg.byzantine_validators:
        raise ConfigError("subnets: [[attacks]] and [[byzantine_validators]] are single-model only")
    base = cfg.model_dump(exclude={"subnets"})
    n = cfg.network.validators
    seen: set[str] = set()
    out = []
    for k, sub in enumerate(cfg.subnets):
        where = f"subnets[{k}]"
        if not NAME_RE.match(sub.name):
            raise ConfigError(
                f"{where}.name: {sub.name!r} is not a subnetwork name (a-z, 0-9, _, -)"
            )
        if sub.name in seen:
            raise ConfigError(f"{where}.name: {sub.name!r} is used twice")
        seen.add(sub.name)
        for i in sub.validators:
            if not 0 <= i < n:
                raise ConfigError(f"{where}.validators: no validator {i} (the network has {n})")
        if len(set(sub.validators)) != len(sub.validators):
            raise ConfigError(f"{where}.validators: a validator is listed twice")
        raw: dict[str, Any] = copy.deepcopy(base)
        for section in SECTIONS:
            raw[section] = {**raw[section], **getattr(sub, section)}
        raw["network"] = {"validators": len(sub.validators), "trainers": sub.trainers}
        try:
            sub_cfg = FLRunConfig.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(f"{where}: {describe(exc)}") from exc
        out.append(SubnetRun(sub.name, tuple(sub.validators), sub_cfg))
    return out


def subnet_entries(runs: list[SubnetRun]) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Each subnetwork's genesis entry without keys (``validators`` and ``trainers`` to
    fill, see :func:`with_keys`) and the initial weight blobs every validator must hold."""
    entries, blobs = [], []
    for run in runs:
        state, blob = fl_app_state(run.cfg, [])
        entries.append({"name": run.name, "validators": [], **state["fl"]})
        blobs.append(blob)
    return entries, blobs


def with_keys(
    runs: list[SubnetRun],
    entries: list[dict[str, Any]],
    validator_keys: list[str],
    trainer_keys: dict[str, list[str]],
) -> dict[str, Any]:
    """The genesis app state: ``entries`` with their validators' and trainers' hex public
    keys (validators by chain index, trainers per subnetwork)."""
    out = []
    for run, entry in zip(runs, entries, strict=True):
        validators = [validator_keys[i] for i in run.validators]
        out.append({**entry, "validators": validators, "trainers": trainer_keys[run.name]})
    return {"app": "fl", "fl": {"subnets": out}}


def trainer_slots(runs: list[SubnetRun]) -> list[tuple[str, int]]:
    """``(subnet, index in it)`` of each trainer of a network folder, subnetwork by
    subnetwork (``trainer-0`` is the first trainer of the first subnetwork)."""
    return [(run.name, j) for run in runs for j in range(run.cfg.network.trainers)]


def subnets_app_state(
    runs: list[SubnetRun], validator_keys: list[str], trainer_keys: dict[str, list[str]]
) -> tuple[dict[str, Any], list[bytes]]:
    """The genesis app state of ``runs`` with these keys, and the initial weight blobs."""
    entries, blobs = subnet_entries(runs)
    return with_keys(runs, entries, validator_keys, trainer_keys), blobs


def run_of(cfg: FLRunConfig, name: str) -> SubnetRun:
    """Subnetwork ``name`` of ``cfg`` (ConfigError naming it when there is none)."""
    for run in subnet_runs(cfg):
        if run.name == name:
            return run
    raise ConfigError(f"subnet: no subnetwork {name!r} in the configuration")


#: Models ``flobc demo --subnets N`` gives its subnetworks, in turn, unless --model is set.
DEMO_MODELS = ("small-cnn", "mlp", "logreg")


def split_config(cfg: FLRunConfig, n: int, *, same_model: bool = False) -> FLRunConfig:
    """``cfg`` as ``n`` model subnetworks (``flobc demo --subnets N``): the validators and
    trainers dealt round-robin (every validator validates all when there are fewer than
    ``n``), each subnetwork with the next of :data:`DEMO_MODELS` unless ``same_model``."""
    if cfg.subnets:
        raise ConfigError("subnets: the configuration already has [[subnets]]; drop --subnets")
    v, t = cfg.network.validators, cfg.network.trainers
    if not 1 <= n <= t:
        raise ConfigError(
            f"subnets: {n} subnetworks need at least {max(n, 1)} trainers (network.trainers = {t})"
        )
    subnets = []
    for k in range(n):
        validators = [i for i in range(v) if i % n == k] if v >= n else list(range(v))
        trainers = len(range(k, t, n))
        model = cfg.model.name if same_model else DEMO_MODELS[k % len(DEMO_MODELS)]
        named = not same_model and n <= len(DEMO_MODELS)
        subnets.append(
            {
                "name": model if named else f"s{k}",
                "validators": validators,
                "trainers": trainers,
                "model": {"name": model},
            }
        )
    raw = cfg.model_dump(exclude={"subnets"}) | {"subnets": subnets}
    try:
        return FLRunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {describe(exc)}") from exc
