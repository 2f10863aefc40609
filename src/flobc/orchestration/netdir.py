"""Create a network folder: keys, genesis and one home per node (``flobc init``).

Layout::

    NETDIR/genesis.json
    NETDIR/validator-0/ ... validator-{N-1}/   (config.toml, node_key.json, genesis.json)
    NETDIR/trainer-0/ ... trainer-{M-1}/       (config.toml, node_key.json, genesis.json)
    NETDIR/run/                                pids and logs of `flobc net up`
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flobc.chain.blobs import FileBlobStore
from flobc.chain.genesis import ConsensusParams, Genesis
from flobc.chain.validators import Validator
from flobc.crypto.keys import KeyPair
from flobc.node.home import GENESIS_FILE, KEY_FILE, NodeSettings, load_settings, save_settings
from flobc.node_apps import node_app_for

RUN_DIR = "run"


def free_loopback_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the OS reports free right now (all held open together so they differ)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass(frozen=True)
class NodeEntry:
    name: str
    role: str
    home: Path
    settings: NodeSettings

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"


def create_network(
    netdir: Path,
    *,
    validators: int,
    trainers: int = 0,
    hosts: Sequence[str] = ("127.0.0.1",),
    base_port: int | None = None,
    app_state: dict[str, Any] | None = None,
    consensus: ConsensusParams | None = None,
    node_extra: Callable[[str, int], dict[str, Any]] | None = None,
    validator_blobs: Sequence[bytes] = (),
    chain_id: str | None = None,
    force: bool = False,
    finish_app_state: Callable[[list[str], list[str]], dict[str, Any]] | None = None,
) -> Genesis:
    """Write keys, genesis and homes for ``validators`` + ``trainers`` nodes.

    Nodes are spread over ``hosts`` round-robin. Ports are ``base_port + i`` when given,
    else free loopback ports chosen now. ``node_extra(role, index)`` gives each node's
    role-specific settings; ``validator_blobs`` are copied into every validator's blob store
    (e.g. the genesis model weights). ``finish_app_state(validator_keys, trainer_keys)``
    (hex public keys), when given, writes the app state once the keys exist (model
    subnetworks place them per subnetwork); otherwise the hosted application completes
    ``app_state`` from the network's members (FL: every trainer).
    """
    if validators < 1:
        raise ValueError("a network needs at least one validator")
    total = validators + trainers
    ports = (
        [base_port + i for i in range(total)]
        if base_port is not None
        else free_loopback_ports(total)
    )
    keys = [KeyPair.generate() for _ in range(total)]
    entries: list[tuple[str, str, KeyPair, NodeSettings]] = []
    for i in range(total):
        role = "validator" if i < validators else "trainer"
        idx = i if i < validators else i - validators
        name = f"{role}-{idx}"
        extra = node_extra(role, idx) if node_extra else {}
        settings = NodeSettings(
            role=role, name=name, host=hosts[i % len(hosts)], port=ports[i], extra=extra
        )
        entries.append((name, role, keys[i], settings))
    vals = [
        Validator(k.public_key, 1, f"http://{s.host}:{s.port}")
        for _, role, k, s in entries
        if role == "validator"
    ]
    hosted = node_app_for(app_state or {})
    if finish_app_state is not None:
        state = finish_app_state(
            [v.public_key.hex() for v in vals],
            [k.public_key.hex() for _, role, k, _ in entries if role == "trainer"],
        )
    else:
        members = [(role, k.public_key) for _, role, k, _ in entries if role != "validator"]
        state = hosted.complete_genesis(dict(app_state or {"app": hosted.name}), members)
    hosted.check_genesis(state)
    if netdir.exists() and any(netdir.iterdir()):
        if not force:
            raise FileExistsError(f"{netdir} is not empty (use --force to overwrite)")
        shutil.rmtree(netdir)
    netdir.mkdir(parents=True, exist_ok=True)
    genesis = Genesis(
        chain_id=chain_id or f"flobc-{int(time.time())}",
        genesis_time_ms=int(time.time() * 1000),
        validators=vals,
        consensus=consensus or ConsensusParams(),
        app_state=state,
    )
    genesis.save(netdir / GENESIS_FILE)
    validator_urls = [v.url for v in vals]
    for name, role, key, settings in entries:
        home = netdir / name
        if role == "trainer":
            settings = settings.model_copy(update={"validators": validator_urls})
        save_settings(home, settings)
        key.save(home / KEY_FILE)
        shutil.copy(netdir / GENESIS_FILE, home / GENESIS_FILE)
        if role == "validator" and validator_blobs:
            store = FileBlobStore(home / "data" / "blobs")
            for blob in validator_blobs:
                store.put(blob)
    (netdir / RUN_DIR).mkdir(exist_ok=True)
    return genesis


def list_nodes(netdir: Path) -> list[NodeEntry]:
    """The nodes of a network folder, validators first, in index order."""
    if not (netdir / GENESIS_FILE).exists():
        raise FileNotFoundError(f"{netdir} is not a network folder (no {GENESIS_FILE})")
    out = []
    for home in netdir.iterdir():
        if home.is_dir() and (home / "config.toml").exists():
            s = load_settings(home)
            out.append(NodeEntry(s.name, s.role, home, s))
    return sorted(out, key=lambda e: (e.role != "validator", e.role, int(e.name.split("-")[-1])))
