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
from flobc.node.fl_genesis import fl_app_state
from flobc.node.fl_settings import ConfigError, FLRunConfig, describe

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


def subnets_app_state(
    runs: list[SubnetRun], validator_keys: list[str], trainer_keys: dict[str, list[str]]
) -> tuple[dict[str, Any], list[bytes]]:
    """The genesis app state of ``runs`` and the initial weight blobs every validator must
    hold (one per subnetwork). Keys are hex public keys; validators in chain order."""
    entries, blobs = [], []
    for run in runs:
        state, blob = fl_app_state(run.cfg, trainer_keys[run.name])
        entries.append(
            {
                "name": run.name,
                "validators": [validator_keys[i] for i in run.validators],
                **state["fl"],
            }
        )
        blobs.append(blob)
    return {"app": "fl", "fl": {"subnets": entries}}, blobs
