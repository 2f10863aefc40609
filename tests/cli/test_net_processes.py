"""``flobc net up|down|status`` with four real validator processes on loopback.

Kill one validator with SIGKILL: the other three keep committing; ``net up`` restarts only
the dead one, which catches up and agrees with the others on blocks and app state.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flobc.app.kvstore import kv_tx
from flobc.bench.consensus import BENCH_PARAMS
from flobc.chain.genesis import ConsensusParams
from flobc.cli.main import cli
from flobc.crypto import KeyPair
from flobc.node.client import ClientError, ValidatorClient
from flobc.orchestration import processes as net
from flobc.orchestration.netdir import create_network, list_nodes

pytestmark = [pytest.mark.processes, pytest.mark.timeout(120)]

PARAMS = ConsensusParams(**BENCH_PARAMS, empty_block_interval_ms=100)
STATUS_KEYS = {"name", "id", "role", "url", "pid", "running", "height"}


def flobc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flobc.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def height(c: ValidatorClient) -> int:
    try:
        return c.height()
    except ClientError:
        return -1


@pytest.fixture
def netdir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "net"
    create_network(d, validators=4, consensus=PARAMS)
    try:
        yield d
    finally:
        res = flobc("net", "down", str(d))
        if res.returncode != 0:  # make sure nothing outlives the test
            net.down(d, timeout=2)
        for log in sorted((d / "run").glob("*.log")):
            if "Traceback" in log.read_text():
                print(f"--- {log.name}\n{log.read_text()[-3000:]}")


def pids(netdir: Path) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in (netdir / "run").glob("*.pid")}


def status_json(netdir: Path) -> list[dict[str, Any]]:
    res = flobc("net", "status", str(netdir), "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_kill_one_validator_restart_and_catch_up(netdir: Path) -> None:
    res = flobc("net", "up", str(netdir))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("ready") == 4, res.stdout
    nodes = list_nodes(netdir)
    clients = [ValidatorClient(n.url, timeout=2) for n in nodes]
    chain_id = clients[0].status()["chain_id"]
    serial = itertools.count()

    def commit_txs(targets: list[int], count: int) -> None:
        # One signer per transaction: nonces of one signer sent to different validators
        # may reach the proposer out of order, and then the lower one is rightly stale.
        hashes = [
            (i, clients[i].submit(kv_tx(chain_id, KeyPair.generate(), f"k{n}", "v", 1)))
            for i, n in zip(itertools.cycle(targets), itertools.islice(serial, count))
        ]
        for i, h in hashes:
            assert clients[i].wait_committed(h, timeout=15).committed

    def advance(idx: list[int], blocks: int, timeout: float = 20) -> None:
        base = {i: height(clients[i]) for i in idx}
        wait_until(
            lambda: all(height(clients[i]) >= base[i] + blocks for i in idx),
            timeout,
            f"{blocks} more blocks on validators {idx} (from {base})",
        )

    # net status --json: exactly the documented fields.
    rows = status_json(netdir)
    assert [r["name"] for r in rows] == [f"validator-{i}" for i in range(4)]
    for r, n in zip(rows, nodes, strict=True):
        assert set(r) == STATUS_KEYS
        assert r["id"] == KeyPair.load(n.home / "node_key.json").node_id
        assert (r["role"], r["url"], r["running"]) == ("validator", n.url, True)
        assert isinstance(r["pid"], int) and isinstance(r["height"], int)

    commit_txs([0, 1, 2, 3], 8)
    advance([0, 1, 2, 3], 3)

    # SIGKILL validator-3: the other three keep committing, with and without txs.
    before = pids(netdir)
    os.kill(before["validator-3"], signal.SIGKILL)
    wait_until(
        lambda: not net.is_node_process(before["validator-3"], nodes[3]), 5, "validator-3 to die"
    )
    advance([0, 1, 2], 3)
    commit_txs([0, 1, 2], 6)
    rows = status_json(netdir)
    assert [(r["running"], r["pid"] is None) for r in rows] == [(True, False)] * 3 + [(False, True)]
    assert rows[3]["height"] is None

    # net up again restarts only the dead validator.
    res = flobc("net", "up", str(netdir))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("already running") == 3, res.stdout
    after = pids(netdir)
    assert {k: after[k] for k in before if k != "validator-3"} == {
        k: v for k, v in before.items() if k != "validator-3"
    }
    assert after["validator-3"] != before["validator-3"]

    # It catches up, then commits transactions submitted to it.
    target = max(height(c) for c in clients[:3])
    wait_until(lambda: height(clients[3]) >= target, 30, f"validator-3 to reach {target}")
    commit_txs([3, 0], 4)
    advance([0, 1, 2, 3], 2)

    # All four agree on the block hash and on the app hash at common heights.
    seen: list[dict[int, tuple[str, str]]] = [{} for _ in clients]

    def common_heights() -> set[int]:
        for i, c in enumerate(clients):
            st = c.status()
            seen[i][st["height"]] = (st["latest_block_hash"], st["app_hash"])
        return set.intersection(*(set(s) for s in seen))

    wait_until(lambda: bool(common_heights()), 10, "a height seen on all four")
    for h in common_heights():
        assert len({s[h] for s in seen}) == 1, f"disagreement at height {h}: {[s[h] for s in seen]}"
    top = min(height(c) for c in clients)
    for h in (1, top // 2, top):
        blocks = [c.block(h) for c in clients]
        assert all(b is not None for b in blocks)
        assert len({b["hash"] for b in blocks if b}) == 1, f"block hashes differ at {h}"
        assert len({b["header"]["app_hash"] for b in blocks if b}) == 1

    # net down stops everything and removes the pid files.
    res = flobc("net", "down", str(netdir))
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("stopped") + res.stdout.count("killed") == 4
    assert not pids(netdir)
    assert not any(net.is_node_process(after[n.name], n) for n in nodes)
    assert [r["running"] for r in status_json(netdir)] == [False] * 4


def test_stale_pid_file_is_replaced(netdir: Path) -> None:
    run = netdir / "run"
    (run / "validator-0.pid").write_text(f"{os.getpid()}\n")  # alive, but not a node
    (run / "validator-1.pid").write_text("999999999\n")  # no such process
    (run / "validator-2.pid").write_text("garbage\n")
    assert [r["running"] for r in status_json(netdir)] == [False] * 4
    res = flobc("net", "up", str(netdir), "--no-wait")
    assert res.returncode == 0, res.stdout + res.stderr
    started = pids(netdir)
    assert os.getpid() not in started.values() and len(started) == 4
    nodes = list_nodes(netdir)
    wait_until(lambda: all(net.is_node_process(started[n.name], n) for n in nodes), 10, "4 nodes")
    res = flobc("net", "down", str(netdir))
    assert res.returncode == 0 and res.stdout.count("stopped") == 4, res.stdout


def test_not_a_network_folder(tmp_path: Path) -> None:
    for cmd in ("up", "down", "status"):
        res = CliRunner().invoke(cli, ["net", cmd, str(tmp_path)])
        assert res.exit_code != 0 and "not a network folder" in res.output


def test_trainers_skipped_when_asked_or_unavailable(tmp_path: Path) -> None:
    d = tmp_path / "net"
    create_network(d, validators=1, trainers=1, consensus=PARAMS)
    try:
        res = flobc("net", "up", str(d), "--validators-only")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "skipped (--validators-only)" in res.stdout and "ready" in res.stdout
        assert set(pids(d)) == {"validator-0"}
        rows = net.up(d, trainers_available=False, wait=False)
        assert [(r.entry.name, r.state) for r in rows] == [
            ("validator-0", net.RUNNING),
            ("trainer-0", "skipped: `flobc trainer` is not available"),
        ]
        assert [r["role"] for r in status_json(d)] == ["validator", "trainer"]
    finally:
        net.down(d)
    assert not pids(d)
