"""``flobc init``: network folder layout, key files, ports, hosts, overwrite protection."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flobc.chain.genesis import Genesis
from flobc.cli.main import cli
from flobc.crypto import KeyPair
from flobc.orchestration.netdir import RUN_DIR, list_nodes

pytestmark = pytest.mark.timeout(30)


def init(*args: str) -> Result:
    return CliRunner().invoke(cli, ["init", *args], catch_exceptions=False)


def test_layout_keys_and_genesis(tmp_path: Path) -> None:
    net = tmp_path / "net"
    res = init(str(net), "--validators", "4")
    assert res.exit_code == 0, res.output
    assert "4 validators" in res.output
    names = {p.name for p in net.iterdir()}
    assert names == {RUN_DIR, "genesis.json"} | {f"validator-{i}" for i in range(4)}
    genesis = Genesis.load(net / "genesis.json")
    assert genesis.app_state == {"app": "kv"}
    assert len(genesis.validators) == 4
    nodes = list_nodes(net)
    assert [n.name for n in nodes] == [f"validator-{i}" for i in range(4)]
    keys = []
    for node in nodes:
        files = {p.name for p in node.home.iterdir()}
        assert files == {"config.toml", "genesis.json", "node_key.json"}
        key_file = node.home / "node_key.json"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        keys.append(KeyPair.load(key_file))
        assert (node.home / "genesis.json").read_bytes() == (net / "genesis.json").read_bytes()
        assert node.role == "validator"
    # Each genesis validator is one node's key, listening on that node's URL.
    by_url = {v.url: v.public_key for v in genesis.validators}
    assert {n.url: k.public_key for n, k in zip(nodes, keys, strict=True)} == by_url
    assert len({k.public_key for k in keys}) == 4


def test_free_ports_are_unique_loopback(tmp_path: Path) -> None:
    assert init(str(tmp_path / "n"), "-v", "7").exit_code == 0
    nodes = list_nodes(tmp_path / "n")
    ports = [n.settings.port for n in nodes]
    assert len(set(ports)) == 7 and all(1024 <= p <= 65535 for p in ports)
    assert {n.settings.host for n in nodes} == {"127.0.0.1"}


def test_hosts_and_base_port(tmp_path: Path) -> None:
    net = tmp_path / "n"
    res = init(str(net), "-v", "3", "--hosts", "10.0.0.1, 10.0.0.2", "--base-port", "30000")
    assert res.exit_code == 0, res.output
    nodes = list_nodes(net)
    assert [(n.settings.host, n.settings.port) for n in nodes] == [
        ("10.0.0.1", 30000),
        ("10.0.0.2", 30001),
        ("10.0.0.1", 30002),
    ]
    urls = [v.url for v in Genesis.load(net / "genesis.json").validators]
    assert urls == ["http://10.0.0.1:30000", "http://10.0.0.2:30001", "http://10.0.0.1:30002"]


def test_refuses_non_empty_dir_without_force(tmp_path: Path) -> None:
    net = tmp_path / "n"
    net.mkdir()
    (net / "precious.txt").write_text("keep me")
    res = CliRunner().invoke(cli, ["init", str(net), "-v", "1"])
    assert res.exit_code != 0
    assert "not empty" in res.output and "--force" in res.output
    assert (net / "precious.txt").read_text() == "keep me"
    assert not (net / "genesis.json").exists()

    res = init(str(net), "-v", "2", "--force")
    assert res.exit_code == 0, res.output
    assert not (net / "precious.txt").exists()
    assert len(list_nodes(net)) == 2


def test_reinit_with_force_makes_new_keys(tmp_path: Path) -> None:
    net = tmp_path / "n"
    assert init(str(net), "-v", "1").exit_code == 0
    first = json.loads((net / "validator-0" / "node_key.json").read_text())["public_key"]
    assert init(str(net), "-v", "1", "--force").exit_code == 0
    second = json.loads((net / "validator-0" / "node_key.json").read_text())["public_key"]
    assert first != second


def test_empty_existing_dir_is_fine(tmp_path: Path) -> None:
    (tmp_path / "n").mkdir()
    assert init(str(tmp_path / "n"), "-v", "1").exit_code == 0


def test_needs_validators(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["init", str(tmp_path / "n"), "-v", "0"])
    assert res.exit_code != 0
    assert not (tmp_path / "n" / "genesis.json").exists()


def test_init_app_choices_are_the_hosted_apps() -> None:
    """The CLI lists the apps by name to start fast; the list must not drift."""
    from flobc.cli.main import INIT_APPS
    from flobc.node_apps import NODE_APPS

    assert sorted(INIT_APPS) == sorted(NODE_APPS)
