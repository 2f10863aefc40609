"""Turn an FL run configuration into ``create_network`` arguments (genesis + node settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from flobc.algorithms.sync import scheme_class
from flobc.chain.genesis import ConsensusParams
from flobc.node_apps.fl.genesis import fl_app_state
from flobc.node_apps.fl.settings import FLRunConfig, load_config
from flobc.node_apps.fl.subnets import (
    SubnetRun,
    subnet_entries,
    subnet_runs,
    trainer_slots,
    with_keys,
)
from flobc.orchestration.netdir import NodeEntry, create_network, list_nodes

#: Consensus timing for FL networks on one machine: blocks every 200 ms while idle so
#: that block time (which drives round deadlines) advances smoothly; :func:`fl_consensus`
#: widens that interval when the run's deadlines allow it.
FL_CONSENSUS = ConsensusParams(
    timeout_propose_ms=1000,
    timeout_prevote_ms=500,
    timeout_precommit_ms=500,
    empty_block_interval_ms=200,
)
#: Widest interval between empty blocks (ms), the chain's default.
EMPTY_BLOCK_MAX_MS = 1000
#: The interval is at most this fraction of the shortest round deadline (1/20: a deadline
#: is seen at most 5 % of its period late).
DEADLINE_SHARE = 20


def fl_consensus(cfg: FLRunConfig) -> ConsensusParams:
    """:data:`FL_CONSENSUS` with the widest empty-block interval ``cfg``'s deadlines allow:
    a 20th of its shortest round period (adaptive minimum and ``max_round_s`` included),
    between 200 ms and :data:`EMPTY_BLOCK_MAX_MS`; 200 ms where trainers follow the open
    round (SSP). Why: an empty block is proposed whenever the mempool stays empty for the
    interval, i.e. while trainers train, and the block carrying the first update must then
    wait for it to commit; on 2 loaded cores that was most rounds of ``flobc bench round``
    (docs/results/benchmark-processes/breakdown-2026-12-03.md)."""
    s = cfg.sync.settings()
    floor = FL_CONSENSUS.empty_block_interval_ms
    if scheme_class(s.scheme).trainers_follow_round:
        return FL_CONSENSUS
    shortest = min(
        s.period_ms,
        s.adaptive_min_ms if s.adaptive else s.period_ms,
        s.max_round_ms or s.period_ms,
    )
    interval = max(floor, min(EMPTY_BLOCK_MAX_MS, shortest // DEADLINE_SHARE))
    return msgspec.structs.replace(FL_CONSENSUS, empty_block_interval_ms=interval)


def fl_network_args(
    config_file: Path | None,
    *,
    validators: int | None = None,
    trainers: int | None = None,
    cfg: FLRunConfig | None = None,
) -> dict[str, Any]:
    """Keyword arguments for :func:`~flobc.orchestration.netdir.create_network` for an FL
    network."""
    if cfg is None:
        cfg = load_config(
            config_file, **{"network.validators": validators, "network.trainers": trainers}
        )
    settings = cfg.model_dump(mode="json", exclude_none=True)
    runs = subnet_runs(cfg)
    if runs:
        return _subnets_args(runs, settings)
    app_state, initial = fl_app_state(cfg, [])

    def extra(role: str, index: int) -> dict[str, Any]:
        return {"fl": settings, "index": index}

    return {
        "app_state": app_state,
        "consensus": fl_consensus(cfg),
        "node_extra": extra,
        "validator_blobs": [initial],
    }


def _subnets_args(runs: list[SubnetRun], settings: dict[str, Any]) -> dict[str, Any]:
    """As :func:`fl_network_args` for model subnetworks: trainer ``k`` of the folder is
    the ``trainer_slots`` entry ``k`` and its home records its subnetwork."""
    entries, blobs = subnet_entries(runs)
    slots = trainer_slots(runs)

    def extra(role: str, index: int) -> dict[str, Any]:
        if role == "trainer":
            name, j = slots[index]
            return {"fl": settings, "index": j, "subnet": name}
        return {"fl": settings, "index": index}

    def finish(validator_keys: list[str], trainer_keys: list[str]) -> dict[str, Any]:
        per: dict[str, list[str]] = {run.name: [] for run in runs}
        for (name, _), key in zip(slots, trainer_keys, strict=True):
            per[name].append(key)
        return with_keys(runs, entries, validator_keys, per)

    return {
        "app_state": {"app": "fl"},
        "consensus": FL_CONSENSUS,
        "node_extra": extra,
        "validator_blobs": blobs,
        "finish_app_state": finish,
    }


def total_trainers(cfg: FLRunConfig) -> int:
    """Trainer processes of ``cfg``: every subnetwork's, or ``network.trainers``."""
    runs = subnet_runs(cfg)
    return len(trainer_slots(runs)) if runs else cfg.network.trainers


def create_fl_network(netdir: Path, cfg: FLRunConfig) -> list[NodeEntry]:
    """Write (over whatever is there) the network folder of ``cfg``'s validators and
    trainers; returns its nodes."""
    create_network(
        netdir,
        validators=cfg.network.validators,
        trainers=total_trainers(cfg),
        force=True,
        **fl_network_args(None, cfg=cfg),
    )
    return list_nodes(netdir)
