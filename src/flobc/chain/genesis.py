"""The genesis document: chain id, start time, validator set and the application's config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from flobc.chain.validators import Validator, ValidatorSet


class ConsensusParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Tendermint timeouts (milliseconds). Each grows by its delta per round."""

    timeout_propose_ms: int = 1000
    timeout_propose_delta_ms: int = 500
    timeout_prevote_ms: int = 500
    timeout_prevote_delta_ms: int = 250
    timeout_precommit_ms: int = 500
    timeout_precommit_delta_ms: int = 250
    #: Wait after a commit before proposing the next height while transactions are pending.
    timeout_commit_ms: int = 0
    #: Interval between empty blocks while the mempool is idle (keeps block time moving).
    empty_block_interval_ms: int = 1000
    #: Largest drift allowed between a proposal's time and the local clock.
    max_clock_drift_ms: int = 60_000
    max_block_txs: int = 5000
    max_block_bytes: int = 4 * 1024 * 1024


class Genesis(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain_id: str
    genesis_time_ms: int
    validators: list[Validator]
    consensus: ConsensusParams = ConsensusParams()
    #: Application configuration and initial state (e.g. the FL config and trainer list).
    app_state: dict[str, Any] = {}

    def validator_set(self) -> ValidatorSet:
        return ValidatorSet(self.validators)

    def save(self, path: Path) -> None:
        path.write_bytes(msgspec.json.format(msgspec.json.encode(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> Genesis:
        try:
            return msgspec.json.decode(path.read_bytes(), type=cls)
        except msgspec.DecodeError as exc:
            raise ValueError(f"{path}: invalid genesis file: {exc}") from exc
