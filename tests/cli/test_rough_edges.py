"""What a new user hit: ``init --trainers 0 --app fl``, plug-ins without or ignoring
``seed``, JSON logs, and ``flobc net logs`` (its file reading: tests/orchestration)."""

from __future__ import annotations

import itertools
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from flobc.cli.main import cli
from flobc.ml.zoo import build_model
from flobc.node.logfmt import configure_logging
from flobc.node_apps.fl.genesis import fl_app_state
from flobc.orchestration import processes as net
from flobc.orchestration.netdir import create_network
from flobc.sim.fl_fixtures import tiny_config

pytestmark = pytest.mark.timeout(90)

PLUGINS = """
import random
from flobc.ml.numpy_models import NumpyLogReg

def noseed(input_shape, num_classes):
    return NumpyLogReg(input_shape, num_classes, 0)

def ignores(input_shape, num_classes, seed):
    return NumpyLogReg(input_shape, num_classes, random.randrange(2**31))

def seeded(input_shape, num_classes, seed, **options):
    return NumpyLogReg(input_shape, num_classes, seed)
"""
_module_names = itertools.count()


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh plug-in module on sys.path; yields its name."""
    name = f"flobc_test_plugins_{next(_module_names)}"
    (tmp_path / f"{name}.py").write_text(PLUGINS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def invoke(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return res.exit_code, res.output


def test_init_fl_with_zero_trainers_says_why(tmp_path: Path) -> None:
    code, out = invoke("init", str(tmp_path / "n"), "-v", "3", "--trainers", "0", "--app", "fl")
    assert code == 1
    lines = out.strip().splitlines()
    assert len(lines) == 1 and "at least one trainer" in lines[0] and "--app kv" in lines[0]
    assert not (tmp_path / "n").exists()
    # the kv app takes --trainers 0 as given
    assert invoke("init", str(tmp_path / "kv"), "-v", "1", "--trainers", "0")[0] == 0
    assert not list((tmp_path / "kv").glob("trainer-*"))


def test_plugin_without_seed_names_the_expected_signature(tmp_path: Path, plugin: str) -> None:
    with pytest.raises(ValueError, match=r"calls it as factory\(input_shape, num_classes, seed"):
        build_model(f"{plugin}:noseed", (1, 8, 8), 10, seed=0)
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'[model]\nname = "{plugin}:noseed"\n[data]\nmax_train_samples = 200\n')
    code, out = invoke("init", str(tmp_path / "n"), "-v", "1", "-t", "1", "--config", str(cfg))
    assert code == 1
    lines = out.strip().splitlines()
    assert len(lines) == 1 and "noseed(input_shape, num_classes)" in lines[0], out
    assert "Traceback" not in out


def test_plugin_ignoring_seed_is_detected(plugin: str, caplog: pytest.LogCaptureFixture) -> None:
    base = {"network.validators": 1, "network.trainers": 1, "data.max_train_samples": 200}
    with caplog.at_level(logging.WARNING, logger="flobc.fl"):
        fl_app_state(tiny_config(**base, **{"model.name": f"{plugin}:seeded"}), [])
        assert not caplog.records
        fl_app_state(tiny_config(**base, **{"model.name": f"{plugin}:ignores"}), [])
    [record] = caplog.records
    assert "ignores its seed" in record.getMessage() and f"{plugin}:ignores" in record.getMessage()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_log_lines(capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    configure_logging("validator-7", "INFO", "json")
    log = logging.getLogger("flobc.test")
    log.info("hello %s", "world")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    lines = capsys.readouterr().err.strip().splitlines()
    docs = [json.loads(line) for line in lines]
    assert docs[0]["message"] == "hello world" and docs[0]["node"] == "validator-7"
    assert docs[0]["level"] == "INFO" and docs[0]["logger"] == "flobc.test"
    assert docs[0]["time"].endswith("Z")
    assert docs[1]["level"] == "ERROR" and "RuntimeError: boom" in docs[1]["exc"]


@pytest.mark.processes
def test_net_up_json_logs_and_net_logs(tmp_path: Path) -> None:
    netdir = tmp_path / "net"
    create_network(netdir, validators=1)
    try:
        rows = net.up(netdir, timeout=30, log_format="json")
        assert rows[0].state == net.READY, rows[0].state
    finally:
        net.down(netdir)
    code, out = invoke("net", "logs", str(netdir), "validator-0")
    assert code == 0
    docs = [json.loads(line) for line in out.strip().splitlines()]
    assert any("listening on" in d["message"] for d in docs)
    assert {d["node"] for d in docs} == {"validator-0"}
    code, out = invoke("net", "logs", str(netdir), "-n", "1")
    assert code == 0 and out.startswith("validator-0 | {")  # every node: name-prefixed
    assert len(out.strip().splitlines()) == 1
    code, out = invoke("net", "logs", str(netdir), "nobody")
    assert code == 1 and "nodes: validator-0" in out
