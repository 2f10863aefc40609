"""A node's home folder: its settings, key, genesis and data, and how to open them.

Layout::

    HOME/config.toml        node settings (role, listen address, tuning)
    HOME/genesis.json       the network's genesis document
    HOME/node_key.json      Ed25519 key, mode 0600
    HOME/data/ledger.sqlite blocks, commits, app snapshots (SQLite, WAL mode)
    HOME/data/blobs/        content-addressed model weights and updates
    HOME/data/consensus.wal write-ahead log of the current height
    HOME/data/sign_state    last signed (height, round, step)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flobc.chain.blobs import FileBlobStore
from flobc.chain.genesis import Genesis
from flobc.chain.store import SQLiteBlockStore
from flobc.consensus.sign_guard import SignGuard
from flobc.consensus.wal import WriteAheadLog
from flobc.crypto.keys import KeyPair
from flobc.node.consensus_log import ConsensusLog

CONFIG_FILE = "config.toml"
GENESIS_FILE = "genesis.json"
KEY_FILE = "node_key.json"


class NodeSettings(BaseModel):
    """``config.toml`` of one node."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["validator", "trainer"] = "validator"
    name: str = "node"
    host: str = "127.0.0.1"
    port: int = Field(26600, ge=0, le=65535)
    gossip_interval_ms: int = Field(250, gt=0)
    log_level: str = "INFO"
    #: Trainer only: validator API URLs to talk to, in order of preference.
    validators: list[str] = []
    #: Free-form role-specific settings (e.g. the trainer's data partition).
    extra: dict[str, Any] = {}


class HomeError(ValueError):
    """A home folder that cannot be used, with the reason."""


def load_settings(home: Path) -> NodeSettings:
    path = home / CONFIG_FILE
    if not path.exists():
        raise HomeError(f"{path} does not exist (run `flobc init` first)")
    try:
        return NodeSettings.model_validate(tomllib.loads(path.read_text()))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise HomeError(f"{path}: {exc}") from exc


def save_settings(home: Path, settings: NodeSettings) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / CONFIG_FILE).write_text(
        tomli_w.dumps(settings.model_dump(mode="json", exclude_none=True))
    )


@dataclass
class OpenedHome:
    """Everything a validator process needs, opened from its home folder."""

    home: Path
    settings: NodeSettings
    genesis: Genesis
    key: KeyPair
    store: SQLiteBlockStore
    blobs: FileBlobStore
    consensus_log: ConsensusLog

    def close(self) -> None:
        self.store.close()


def open_home(home: Path) -> OpenedHome:
    settings = load_settings(home)
    try:
        genesis = Genesis.load(home / GENESIS_FILE)
        key = KeyPair.load(home / KEY_FILE)
    except (OSError, ValueError) as exc:
        raise HomeError(str(exc)) from exc
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    return OpenedHome(
        home=home,
        settings=settings,
        genesis=genesis,
        key=key,
        # no fsync per block: the consensus log is the durable record of a decided height
        store=SQLiteBlockStore(data / "ledger.sqlite", synchronous="NORMAL"),
        blobs=FileBlobStore(data / "blobs"),
        consensus_log=ConsensusLog(
            WriteAheadLog(data / "consensus.wal"),
            SignGuard(data / "sign_state"),
            me=genesis.validator_set().index_of(key.address),
            chain_id=genesis.chain_id,
        ),
    )
