"""``flobc dashboard NETDIR``: the URL of the browser dashboard of a running network."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import click

from flobc.node.client import ClientError, ValidatorClient
from flobc.orchestration.netdir import NodeEntry, list_nodes


def dashboard_url(entry: NodeEntry) -> str:
    """Where ``entry``'s validator serves the dashboard (a wildcard host as loopback)."""
    host = entry.settings.host
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{entry.settings.port}/"


def first_running_dashboard(netdir: Path, timeout: float = 2.0) -> str | None:
    """The dashboard URL of the first validator of ``netdir`` that answers, or None."""
    for entry in list_nodes(netdir):
        if entry.role != "validator":
            continue
        url = dashboard_url(entry)
        try:
            ValidatorClient(url.rstrip("/"), timeout=timeout).status()
        except ClientError:
            continue
        return url
    return None


@click.command()
@click.argument("netdir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--open", "open_browser", is_flag=True, help="Also open it in a web browser.")
def dashboard(netdir: Path, open_browser: bool) -> None:
    """Print the dashboard URL of the first running validator of NETDIR."""
    try:
        url = first_running_dashboard(netdir)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    if url is None:
        raise click.ClickException(
            f"no validator of {netdir} answers; start the network with `flobc net up {netdir}`"
        )
    click.echo(url)
    if open_browser and not webbrowser.open(url):
        click.echo("could not open a browser here; open the URL above", err=True)
