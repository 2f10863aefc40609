"""Starting and stopping a network's node processes as a block (``started``)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from flobc.chain.genesis import ConsensusParams
from flobc.node.client import ValidatorClient
from flobc.orchestration.netdir import create_network, list_nodes
from flobc.orchestration.processes import StartError, process_cpu_s, running_pid, started

pytestmark = [pytest.mark.processes, pytest.mark.timeout(120)]

PARAMS = ConsensusParams(empty_block_interval_ms=100)


def test_nodes_run_inside_the_block_and_are_stopped_after_an_error(tmp_path: Path) -> None:
    d = tmp_path / "net"
    create_network(d, validators=2, consensus=PARAMS)
    with pytest.raises(RuntimeError, match="boom"), started(d, timeout=60) as net:
        assert list(net.validators) == ["validator-0", "validator-1"]
        assert all(running_pid(d, e) is not None for e in net.nodes)
        assert ValidatorClient(net.validators["validator-0"]).status()["height"] >= 0
        cpu = net.cpu_seconds()
        assert sorted(cpu) == ["validator-0", "validator-1"]
        assert all(c > 0 for c in cpu.values())  # a started Python process has used CPU
        raise RuntimeError("boom")
    assert sorted(name for name, _, _ in net.stopped) == ["validator-0", "validator-1"]
    assert all(running_pid(d, e) is None for e in list_nodes(d))


def test_a_node_that_cannot_start_is_named_and_the_others_are_stopped(tmp_path: Path) -> None:
    d = tmp_path / "net"
    create_network(d, validators=2, consensus=PARAMS)
    blocked = list_nodes(d)[1]
    with socket.socket() as s:
        s.bind((blocked.settings.host, blocked.settings.port))
        s.listen()
        with (
            pytest.raises(StartError, match=r"validator-1: port \d+ in use"),
            started(d, timeout=60),
        ):
            pytest.fail("the block must not run")
    assert all(running_pid(d, e) is None for e in list_nodes(d))


def test_process_cpu_counts_this_process_and_none_for_a_gone_pid() -> None:
    import os
    import time

    before = process_cpu_s(os.getpid())
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    after = process_cpu_s(os.getpid())
    assert before is not None and after is not None and after - before >= 0.03
    assert process_cpu_s(2**22 + 1) is None  # above the kernel's pid limit
