"""Run the nodes of a network folder as background processes (``flobc net``, demo, experiments).

Each node runs detached (its own session) as ``python -m flobc.cli.main <role> --home HOME``
with its pid in ``NETDIR/run/<name>.pid`` and its output in ``NETDIR/run/<name>.log``. A node
counts as running when its pid file names a live process whose command line is that node's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flobc.node.client import ClientError, ValidatorClient
from flobc.node.home import KEY_FILE
from flobc.orchestration.netdir import RUN_DIR, NodeEntry, list_nodes

#: States of a node after ``net up``.
READY, RUNNING, STARTED = "ready", "already running", "started"


def pid_file(netdir: Path, name: str) -> Path:
    return netdir / RUN_DIR / f"{name}.pid"


def log_file(netdir: Path, name: str) -> Path:
    return netdir / RUN_DIR / f"{name}.log"


def node_command(entry: NodeEntry, log_format: str = "text") -> list[str]:
    """The command line that runs ``entry`` (validator or trainer)."""
    cmd = [sys.executable, "-m", "flobc.cli.main", entry.role, "--home", str(entry.home.resolve())]
    return cmd + (["--log-format", log_format] if log_format != "text" else [])


def _alive(pid: int) -> bool:
    """True for a live process (a zombie, killed but not yet reaped, is not alive)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def is_node_process(pid: int, entry: NodeEntry) -> bool:
    """Whether ``pid`` is alive and runs ``entry``'s node (checked on /proc/PID/cmdline)."""
    if not _alive(pid):
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    if entry.role not in args or "--home" not in args or not any("flobc" in a for a in args):
        return False
    i = args.index("--home")
    return i + 1 < len(args) and Path(args[i + 1]).resolve() == entry.home.resolve()


def running_pid(netdir: Path, entry: NodeEntry) -> int | None:
    """The pid of ``entry``'s running node, or None (no, stale or foreign pid file)."""
    try:
        pid = int(pid_file(netdir, entry.name).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if is_node_process(pid, entry) else None


def _port_in_use(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def start_node(netdir: Path, entry: NodeEntry, log_format: str = "text") -> subprocess.Popen[bytes]:
    """Start ``entry`` detached, output to its log file, and write its pid file."""
    run = netdir / RUN_DIR
    run.mkdir(parents=True, exist_ok=True)
    with open(log_file(netdir, entry.name), "ab") as log:
        proc = subprocess.Popen(
            node_command(entry, log_format),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=entry.home,
        )
    tmp = run / f".{entry.name}.pid.tmp"
    tmp.write_text(f"{proc.pid}\n")
    tmp.replace(pid_file(netdir, entry.name))
    return proc


@dataclass
class NodeRow:
    """One node in the ``net up`` report."""

    entry: NodeEntry
    pid: int | None
    state: str
    proc: subprocess.Popen[bytes] | None = None


def _answers(url: str, timeout: float) -> bool:
    try:
        ValidatorClient(url, timeout=timeout).status()
    except ClientError:
        return False
    return True


def wait_ready(rows: list[NodeRow], timeout: float) -> None:
    """Wait until each started node answers ``GET /v1/status`` (a trainer: stays up 1 s)."""
    start = time.monotonic()
    waiting = [r for r in rows if r.state == STARTED]
    while waiting:
        for r in list(waiting):
            code = r.proc.poll() if r.proc else None
            if code is not None:
                r.state = (
                    f"exited with code {code} (see {log_file(r.entry.home.parent, r.entry.name)})"
                )
            elif _answers(r.entry.url, 0.5) or (
                r.entry.role != "validator" and time.monotonic() - start > 1.0
            ):
                r.state = READY
            else:
                continue
            waiting.remove(r)
        if waiting and time.monotonic() - start > timeout:
            for r in waiting:
                r.state = f"not ready after {timeout:g}s"
            return
        if waiting:
            time.sleep(0.05)


def up(
    netdir: Path,
    *,
    validators_only: bool = False,
    trainers_available: bool = True,
    wait: bool = True,
    timeout: float = 15.0,
    log_format: str = "text",
) -> list[NodeRow]:
    """Start every node of ``netdir`` that is not running; optionally wait until ready."""
    rows = []
    for entry in list_nodes(netdir):
        pid = running_pid(netdir, entry)
        if pid is not None:
            rows.append(NodeRow(entry, pid, RUNNING))
        elif entry.role == "trainer" and validators_only:
            rows.append(NodeRow(entry, None, "skipped (--validators-only)"))
        elif entry.role == "trainer" and not trainers_available:
            rows.append(NodeRow(entry, None, "skipped: `flobc trainer` is not available"))
        elif _port_in_use(entry.settings.host, entry.settings.port):
            rows.append(NodeRow(entry, None, f"port {entry.settings.port} in use: not started"))
        else:
            pid_file(netdir, entry.name).unlink(missing_ok=True)
            proc = start_node(netdir, entry, log_format)
            rows.append(NodeRow(entry, proc.pid, STARTED, proc))
    if wait:
        wait_ready(rows, timeout)
    return rows


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def down(netdir: Path, timeout: float = 5.0) -> list[tuple[str, int, str]]:
    """SIGTERM every running node, SIGKILL those still up after ``timeout`` s; remove pid
    files. Returns ``(name, pid, "stopped" | "killed")`` per node that was running."""
    targets: list[tuple[str, int]] = []
    for entry in list_nodes(netdir):
        pid = running_pid(netdir, entry)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            targets.append((entry.name, pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _, pid in targets:
            _reap(pid)
        if not any(_alive(pid) for _, pid in targets):
            break
        time.sleep(0.05)
    out = []
    for name, pid in targets:
        how = "stopped"
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            how = "killed"
        _reap(pid)
        out.append((name, pid, how))
    for entry in list_nodes(netdir):
        pid_file(netdir, entry.name).unlink(missing_ok=True)
    return out


def _node_id(home: Path) -> str | None:
    from flobc.crypto import KeyPair

    try:
        return KeyPair.load(home / KEY_FILE).node_id
    except (OSError, ValueError, KeyError):
        return None


def _height(url: str, timeout: float) -> int | None:
    try:
        return int(ValidatorClient(url, timeout=timeout).status()["height"])
    except (ClientError, KeyError, TypeError, ValueError):
        return None


def status(netdir: Path, timeout: float = 1.0) -> list[dict[str, Any]]:
    """``name, id, role, url, pid, running, height`` of each node (height: None if silent)."""
    entries = list_nodes(netdir)
    with ThreadPoolExecutor(max(1, len(entries))) as pool:
        heights = list(pool.map(lambda e: _height(e.url, timeout), entries))
    out = []
    for entry, height in zip(entries, heights, strict=True):
        pid = running_pid(netdir, entry)
        out.append(
            {
                "name": entry.name,
                "id": _node_id(entry.home),
                "role": entry.role,
                "url": entry.url,
                "pid": pid,
                "running": pid is not None,
                "height": height,
            }
        )
    return out


class StartError(RuntimeError):
    """A node of the network did not come up (the message names it and why)."""


@dataclass
class RunningNetwork:
    """A network started by :func:`started`: its nodes, how each started, and (after the
    ``with`` block) what ``down`` stopped."""

    netdir: Path
    nodes: list[NodeEntry]
    rows: list[NodeRow] = field(default_factory=list)
    stopped: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def validators(self) -> dict[str, str]:
        """Validator name -> base URL, in index order."""
        return {e.name: e.url for e in self.nodes if e.role == "validator"}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) each running node has used so far, by name: the
        difference of two calls is what a stretch of the run cost each process."""
        out = {}
        for row in self.rows:
            if row.pid is not None and (cpu := process_cpu_s(row.pid)) is not None:
                out[row.entry.name] = cpu
        return out


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (its threads included), from
    ``/proc/PID/stat``; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def started(netdir: Path, *, timeout: float = 120.0) -> Iterator[RunningNetwork]:
    """Start every node of ``netdir`` and wait until each is ready; on leaving the block,
    also on an error or Ctrl-C, stop every node. Raises :class:`StartError` (after
    stopping the others) when a node does not come up within ``timeout`` seconds."""
    net = RunningNetwork(netdir, list_nodes(netdir))
    try:
        net.rows = up(netdir, wait=True, timeout=timeout)
        bad = [r for r in net.rows if r.state not in (READY, RUNNING)]
        if bad:
            raise StartError(f"{bad[0].entry.name}: {bad[0].state}")
        yield net
    finally:
        net.stopped = down(netdir)
