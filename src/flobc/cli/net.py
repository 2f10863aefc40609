"""``flobc net up|down|status|logs``: the commands and tables over
:mod:`flobc.orchestration.processes` (which starts and stops the nodes)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import click

from flobc.orchestration.logs import follow, print_logs
from flobc.orchestration.netdir import RUN_DIR, list_nodes
from flobc.orchestration.processes import READY, RUNNING, STARTED, down, log_file, status, up

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
