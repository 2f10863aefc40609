"""``flobc net up|down|status|logs``: run the nodes of a network folder as background processes.

Each node runs detached (its own session) as ``python -m flobc.cli.main <role> --home HOME``
with its pid in ``NETDIR/run/<name>.pid`` and its output in ``NETDIR/run/<name>.log``. A node
counts as running when its pid file names a live process whose command line is that node's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from flobc.cli.netdir import RUN_DIR, NodeEntry, list_nodes
from flobc.node.client import ClientError, ValidatorClient
from flobc.node.home import KEY_FILE

#: States of a node after ``net up``.
READY, RUNNING, STARTED = "ready", "already running", "started"


# ---------------------------------------------------------------------- processes


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


# ---------------------------------------------------------------------- CLI

NETDIR = click.argument("netdir", type=click.Path(exists=True, file_okay=False, path_type=Path))


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*("-" if v is None else str(v) for v in r))
    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=200)
    console.print(table)


def _nodes_or_fail(netdir: Path) -> None:
    try:
        list_nodes(netdir)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def net() -> None:
    """Start, stop and inspect the nodes of a local network folder."""


@net.command("up")
@NETDIR
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until ready.")
@click.option("--timeout", type=float, default=15.0, show_default=True, help="Wait bound (s).")
@click.option("--validators-only", is_flag=True, help="Do not start trainers.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Nodes log text lines, or one JSON object per line.",
)
@click.pass_context
def up_cmd(
    ctx: click.Context,
    netdir: Path,
    wait: bool,
    timeout: float,
    validators_only: bool,
    log_format: str,
) -> None:
    """Start every node of NETDIR that is not already running."""
    _nodes_or_fail(netdir)
    root = ctx.find_root().command
    trainers = isinstance(root, click.Group) and "trainer" in root.commands
    rows = up(
        netdir,
        validators_only=validators_only,
        trainers_available=trainers,
        wait=wait,
        timeout=timeout,
        log_format=log_format,
    )
    _table(
        f"network {netdir}",
        ["name", "role", "url", "pid", "state"],
        [[r.entry.name, r.entry.role, r.entry.url, r.pid, r.state] for r in rows],
    )
    if not trainers and not validators_only and any(r.entry.role == "trainer" for r in rows):
        click.echo("note: trainers skipped, this flobc has no `trainer` command yet", err=True)
    ok = (READY, RUNNING, STARTED)
    if any(r.state not in ok and not r.state.startswith("skipped") for r in rows):
        raise click.ClickException(f"some nodes did not start; logs in {netdir / RUN_DIR}")


@net.command("down")
@NETDIR
@click.option("--timeout", type=float, default=5.0, show_default=True, help="SIGKILL after (s).")
def down_cmd(netdir: Path, timeout: float) -> None:
    """Stop every running node of NETDIR (SIGTERM, then SIGKILL)."""
    _nodes_or_fail(netdir)
    stopped = down(netdir, timeout)
    for name, pid, how in stopped:
        click.echo(f"{how} {name} (pid {pid})")
    if not stopped:
        click.echo("no node was running")


@net.command("status")
@NETDIR
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def status_cmd(netdir: Path, as_json: bool) -> None:
    """Each node's id, role, URL, pid, whether it runs, and its height."""
    _nodes_or_fail(netdir)
    rows = status(netdir)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    cols = ["name", "id", "role", "url", "pid", "running", "height"]
    _table(f"network {netdir}", cols, [[r[c] for c in cols] for r in rows])


@net.command("logs")
@NETDIR
@click.argument("node", required=False)
@click.option("-f", "--follow", "follow_", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--lines", type=click.IntRange(0), default=None, help="Only the last N lines.")
def logs_cmd(netdir: Path, node: str | None, follow_: bool, lines: int | None) -> None:
    """Print the log of NODE (e.g. validator-0), or of every node prefixed by its name."""
    from flobc.cli.net_logs import follow, print_logs

    _nodes_or_fail(netdir)
    names = [e.name for e in list_nodes(netdir)]
    if node is not None and node not in names:
        raise click.ClickException(f"no node {node!r} in {netdir}; nodes: {', '.join(names)}")
    files = [(n, log_file(netdir, n)) for n in ([node] if node else names)]
    if not follow_ and not any(p.exists() for _, p in files):
        raise click.ClickException(f"no logs yet in {netdir / RUN_DIR} (start with `flobc net up`)")
    out = click.get_text_stream("stdout")
    print_logs(files, out, lines, prefix=node is None)
    if follow_:
        with contextlib.suppress(KeyboardInterrupt):
            follow(files, out, prefix=node is None)
