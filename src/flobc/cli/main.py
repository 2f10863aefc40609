"""``flobc``: run demos, networks, validators, trainers, experiments and benchmarks."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from flobc import __version__

#: ``flobc init --app`` choices: the node apps of :data:`flobc.node_apps.NODE_APPS`.
INIT_APPS = ("fl", "kv")


class LazyGroup(click.Group):
    """A group whose heavier subcommands are imported only when they are run.

    Every validator and trainer process starts through this CLI, so it must not pay for
    matplotlib or the experiments at start-up.
    """

    lazy: dict[str, str] = {
        "demo": "flobc.cli.demo:demo",
        "dashboard": "flobc.cli.dashboard:dashboard",
        "net": "flobc.cli.net:net",
        "data": "flobc.cli.data_export:data",
        "export": "flobc.cli.data_export:export",
        "experiment": "flobc.cli.experiment:experiment",
        "bench": "flobc.cli.bench:bench",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, attr = self.lazy[cmd_name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flobc")
def cli() -> None:
    """FLoBC: decentralized federated learning over a BFT blockchain."""


@cli.command()
@click.argument("netdir", type=click.Path(path_type=Path))
@click.option("--validators", "-v", type=click.IntRange(1, 100), required=True)
@click.option(
    "--trainers",
    "-t",
    type=click.IntRange(0, 1000),
    default=None,
    help="Trainer homes to create; FL: at least 1 (default: the config's, else 7).",
)
@click.option(
    "--hosts",
    default="127.0.0.1",
    show_default=True,
    help="Comma-separated hosts, assigned to nodes round-robin (multi-machine).",
)
@click.option(
    "--base-port",
    type=click.IntRange(1, 65000),
    default=None,
    help="Port of the first node, then +1 each; default: free loopback ports.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="TOML experiment config (model, data, sync, reputation...).",
)
@click.option(
    "--app",
    # the hosted apps (flobc.node_apps.NODE_APPS; importing it here would cost the CLI's
    # start 0.7 s, and tests/cli/test_init.py checks the two agree)
    type=click.Choice(INIT_APPS),
    default=None,
    help="Application: 'fl' (federated learning) when trainers or a config are given, else 'kv'.",
)
@click.option("--force", is_flag=True, help="Overwrite a non-empty NETDIR.")
def init(
    netdir: Path,
    validators: int,
    trainers: int | None,
    hosts: str,
    base_port: int | None,
    config_file: Path | None,
    app: str | None,
    force: bool,
) -> None:
    """Write keys, a genesis file and one home folder per node into NETDIR."""
    from flobc.orchestration.netdir import create_network

    app = app or ("fl" if trainers or config_file else "kv")
    kwargs: dict = {"app_state": {"app": "kv"}}
    if app == "fl" and trainers == 0:
        raise click.ClickException(
            "an FL network needs at least one trainer (--trainers N, N >= 1): trainers are "
            "fixed in the genesis and each gets its data by index; for a ledger alone use --app kv"
        )
    if app == "fl":
        from flobc.node_apps.fl.settings import load_config
        from flobc.orchestration.fl_setup import fl_network_args, total_trainers

        overrides = {"network.validators": validators, "network.trainers": trainers}
        try:
            cfg = load_config(config_file, **overrides)
            kwargs = fl_network_args(None, cfg=cfg)
        except ValueError as exc:  # ConfigError, or a model plug-in that cannot be built
            raise click.ClickException(str(exc)) from exc
        trainers = total_trainers(cfg)
    try:
        genesis = create_network(
            netdir,
            validators=validators,
            trainers=trainers or 0,
            hosts=[h.strip() for h in hosts.split(",") if h.strip()],
            base_port=base_port,
            force=force,
            **kwargs,
        )
    except (FileExistsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"created {netdir}: chain {genesis.chain_id}, {validators} validators, {trainers} trainers"
    )
    click.echo(f"start it with: flobc net up {netdir}")


def _run_home(runner: Callable[..., int], home: Path, **kwargs: Any) -> None:
    """Run ``runner(home, **kwargs)`` and exit with its status."""
    from flobc.node.home import HomeError

    try:
        code = runner(home, **kwargs)
    except HomeError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


_HOME = click.option(
    "--home", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True
)


#: ``--log-format``: ``json`` writes one JSON object per log line (for log shippers, jq).
LOG_FORMAT = click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines as text, or as one JSON object each.",
)


@cli.command()
@_HOME
@LOG_FORMAT
def validator(home: Path, log_format: str) -> None:
    """Run one validator process from its home folder."""
    from flobc.node.launch import run_validator
    from flobc.node_apps import NODE_APPS

    _run_home(run_validator, home, apps=NODE_APPS, log_format=log_format)


@cli.command()
@_HOME
@click.option(
    "--flower",
    default=None,
    metavar="PKG.MODULE:CLIENT_FN",
    help="Train with this Flower client_fn or ClientApp (needs flobc[flower]).",
)
@LOG_FORMAT
def trainer(home: Path, flower: str | None, log_format: str) -> None:
    """Run one trainer process from its home folder."""
    from flobc.node_apps.fl.launch import run_trainer_home

    _run_home(run_trainer_home, home, flower=flower, log_format=log_format)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
