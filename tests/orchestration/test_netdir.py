"""Network folders as a library: what ``create_network`` writes and ``list_nodes`` reads,
and the FL arguments ``fl_network_args`` gives it (``flobc init`` is tested in tests/cli)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flobc.chain.blobs import FileBlobStore
from flobc.chain.genesis import Genesis
from flobc.crypto import KeyPair
from flobc.encoding import sha256
from flobc.node.home import GENESIS_FILE, KEY_FILE
from flobc.orchestration.fl_setup import fl_consensus, fl_network_args
from flobc.orchestration.netdir import RUN_DIR, create_network, free_loopback_ports, list_nodes
from flobc.sim.fl_fixtures import tiny_config

pytestmark = pytest.mark.timeout(60)


def test_free_loopback_ports_differ() -> None:
    ports = free_loopback_ports(20)
    assert len(set(ports)) == 20 and all(0 < p < 65536 for p in ports)


def test_nodes_listed_validators_first_in_numeric_order(tmp_path: Path) -> None:
    create_network(tmp_path / "n", validators=11, trainers=2, base_port=31000)
    nodes = list_nodes(tmp_path / "n")
    assert [n.name for n in nodes] == [f"validator-{i}" for i in range(11)] + [
        "trainer-0",
        "trainer-1",
    ]
    assert [n.settings.port for n in nodes] == list(range(31000, 31013))
    assert nodes[10].url == "http://127.0.0.1:31010"


def test_trainers_know_the_validators_and_extra_settings_reach_each_node(tmp_path: Path) -> None:
    net = tmp_path / "n"
    create_network(
        net,
        validators=2,
        trainers=3,
        node_extra=lambda role, index: {"tag": f"{role}/{index}"},
    )
    nodes = list_nodes(net)
    validator_urls = [n.url for n in nodes if n.role == "validator"]
    for n in nodes:
        assert n.settings.extra == {"tag": f"{n.role}/{n.name.split('-')[1]}"}
        expected = validator_urls if n.role == "trainer" else []
        assert list(n.settings.validators) == expected
        assert (n.home / GENESIS_FILE).read_bytes() == (net / GENESIS_FILE).read_bytes()
    assert (net / RUN_DIR).is_dir()


def test_bad_arguments_change_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one validator"):
        create_network(tmp_path / "n", validators=0)
    assert not (tmp_path / "n").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        create_network(tmp_path / "full", validators=1)
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep"]
    with pytest.raises(FileNotFoundError, match="not a network folder"):
        list_nodes(tmp_path / "full")


def test_fl_network_lists_trainer_keys_and_gives_validators_the_initial_model(
    tmp_path: Path,
) -> None:
    net = tmp_path / "fl"
    cfg = tiny_config(**{"network.validators": 2, "network.trainers": 3})
    args = fl_network_args(None, cfg=cfg)
    # tiny_config's 5 s rounds: empty blocks at most 250 ms apart
    assert args["consensus"] == fl_consensus(cfg)
    assert args["consensus"].empty_block_interval_ms == 250
    genesis = create_network(net, validators=2, trainers=3, **args)
    assert Genesis.load(net / GENESIS_FILE) == genesis
    fl = genesis.app_state["fl"]
    nodes = list_nodes(net)
    trainer_keys = [
        KeyPair.load(n.home / KEY_FILE).public_key.hex() for n in nodes if n.role == "trainer"
    ]
    assert fl["trainers"] == trainer_keys
    initial = bytes.fromhex(fl["model"]["initial_weights"])
    for n in nodes:
        blob = FileBlobStore(n.home / "data" / "blobs").get(initial)
        if n.role == "validator":
            assert blob is not None and sha256(blob) == initial
            assert len(blob) == 4 * fl["model"]["size"]
        else:
            assert blob is None
        assert n.settings.extra["index"] == int(n.name.split("-")[1])
        assert n.settings.extra["fl"]["seed"] == cfg.seed
