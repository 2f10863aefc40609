"""``flobc demo``: a complete FL network on this machine, watched live, with a report.

Validators and trainers run as separate processes talking HTTP over loopback. The demo
watches them like any client (fetching every model version from every validator), shows
accuracy and trust live, stops every process it started (on success, error or Ctrl-C),
and writes ``report.json``, plots, the final model and the ledgers into ``--out``.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from flobc.algorithms.sync import SCHEMES
from flobc.cli.dashboard import dashboard_url
from flobc.cli.demo_subnets import run_subnets_demo
from flobc.cli.demo_subnets import summary as subnets_summary
from flobc.experiments.plots import line_plot
from flobc.node_apps.fl.settings import ConfigError, FLRunConfig, load_config
from flobc.node_apps.fl.subnets import split_config, subnet_runs
from flobc.orchestration.fl_setup import create_fl_network
from flobc.orchestration.processes import RunningNetwork, StartError, started
from flobc.orchestration.watch import NotReached, Watcher

console = Console()


def _view(w: Watcher, names: dict[str, str], rounds: int) -> Group:
    """Live view: recent model versions, and every trainer's trust and record."""
    done = max(len(w.records) - 1, 0)
    versions = Table(title=f"model versions: {done}/{rounds} rounds", title_justify="left")
    for col in ("version", "test acc", "acc/rej", "round", "agree"):
        versions.add_column(col, justify="right")
    for r in w.records[-10:]:
        versions.add_row(
            str(r.version),
            f"{r.accuracy:.4f}",
            f"{r.accepted}/{r.rejected}",
            f"{r.round_ms / 1000:.1f}s",
            "yes" if r.agreed else "[red]NO[/red]",
        )
    trust = Table(title="trainers", title_justify="left")
    for col in ("trainer", "trust", "", "acc", "rej"):
        trust.add_column(col, justify="right" if col != "" else "left")
    latest = w.records[-1].scores if w.records else {}
    for t in w.last_trainers:
        score = latest.get(t["id"], t["score"])
        trust.add_row(
            names.get(t["id"], t["id"][:8]),
            f"{score:.3f}",
            "█" * round(score * 20),
            str(t["accepted"]),
            str(t["rejected"]),
        )
    return Group(versions, trust)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_demo(out: Path, cfg: FLRunConfig, rounds: int, timeout_s: float) -> dict[str, Any]:
    """Create, start, watch and stop the network; return the report document."""
    netdir = out / "network"
    nodes = create_fl_network(netdir, cfg)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    begun = time.monotonic()
    net: RunningNetwork | None = None
    try:
        console.print(
            f"starting {cfg.network.validators} validators and {cfg.network.trainers} "
            f"trainers as processes (logs in {netdir / 'run'}) ..."
        )
        console.print(
            f"[bold]dashboard:[/bold] {dashboard_url(nodes[0])} "
            "(open it in a browser; live once the validators are up, until the demo ends)"
        )
        with started(netdir) as net:
            watcher = Watcher(cfg, net.validators)
            names = {t["id"]: f"trainer-{t['index']}" for t in watcher.trainers()}
            with Live(_view(watcher, names, rounds), console=console, refresh_per_second=4) as live:

                def show(_: object) -> None:
                    watcher.trainers()
                    live.update(_view(watcher, names, rounds))

                watcher.follow(rounds, begun + timeout_s, on_new=show)
            trainers = watcher.trainers()
    except StartError as exc:
        raise click.ClickException(str(exc)) from exc
    except NotReached:
        raise click.ClickException(f"no progress to {rounds} rounds in {timeout_s}s") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        if net is not None:
            console.print(f"stopped {len(net.stopped)} processes")
    return _write_report(out, cfg, watcher, names, trainers, time.monotonic() - begun)


def _write_report(
    out: Path,
    cfg: FLRunConfig,
    w: Watcher,
    names: dict[str, str],
    trainers: list[dict[str, Any]],
    wall_s: float,
) -> dict[str, Any]:
    versions = w.as_json()
    for v in versions:
        v["scores"] = {names.get(t, t): s for t, s in v["scores"].items()}
    report = {
        "config": cfg.model_dump(mode="json"),
        "wall_seconds": round(wall_s, 1),
        "final_accuracy": versions[-1]["accuracy"],
        "all_validators_agreed": all(v["agreed"] for v in versions),
        "trainers": [t | {"name": names.get(t["id"], t["id"])} for t in trainers],
        "versions": versions,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    xs = [v["version"] for v in versions]
    line_plot(
        out / "accuracy.png",
        {"test accuracy": (xs, [v["accuracy"] for v in versions])},
        title="Accuracy per model version",
        xlabel="version",
        ylabel="test accuracy",
        ylim=(0, 1),
    )
    line_plot(
        out / "trust.png",
        {n: (xs, [v["scores"].get(n, 0.0) for v in versions]) for n in names.values()},
        title="Trust score per trainer",
        xlabel="version",
        ylabel="trust φ",
        ylim=(0, 1),
    )
    hashes = versions[-1]["hashes"]
    _export_final(out, w, next(h for h in hashes.values() if h))
    ledgers = out / "ledgers"
    ledgers.mkdir(exist_ok=True)
    for home in sorted((out / "network").glob("validator-*")):
        shutil.copy(home / "data" / "ledger.sqlite", ledgers / f"{home.name}.sqlite")
    return report


def _export_final(out: Path, w: Watcher, hash_hex: str) -> None:
    """The final weights as safetensors, read from a (stopped) validator's blob store."""
    from flobc.chain.blobs import FileBlobStore
    from flobc.ml.weights import to_safetensors, vector_view

    store = FileBlobStore(out / "network" / "validator-0" / "data" / "blobs")
    data = store.get(bytes.fromhex(hash_hex))
    if data is not None:
        vec = vector_view(data)
        (out / "final_model.safetensors").write_bytes(to_safetensors(vec, w.learner.spec))


@click.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("flobc-demo"),
    show_default=True,
    help="Report folder (the network lives in OUT/network).",
)
@click.option("--rounds", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--validators", type=click.IntRange(1, 32), default=None, help="Default 3.")
@click.option("--trainers", type=click.IntRange(1, 200), default=None, help="Default 7.")
@click.option("--dataset", type=click.Choice(["digits", "mnist", "fashion-mnist"]), default=None)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option(
    "--model", default=None, help="Zoo name (small-cnn, paper-cnn, mlp, logreg) or module:function."
)
@click.option("--sync", type=click.Choice(sorted(SCHEMES)), default=None)
@click.option("--seed", type=int, default=None)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="TOML run configuration; options above override it.",
)
@click.option(
    "--attack",
    default=None,
    help="Make some trainers Byzantine with this attack (sign_flip, scaling, label_flip, "
    "backdoor, gaussian, alie, ipm, min_max, min_sum, free_ride_zero, ...).",
)
@click.option(
    "--attackers",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.3,
    show_default=True,
    help="With --attack: the share of trainers that attack (the last ones).",
)
@click.option(
    "--subnets",
    type=click.IntRange(1, 8),
    default=None,
    help="Train this many models side by side on one chain (model subnetworks; validators "
    "and trainers dealt round-robin; models small-cnn, mlp, logreg unless --model or the "
    "config names one).",
)
@click.option("--timeout", type=float, default=900, show_default=True, help="Seconds.")
def demo(
    out: Path,
    rounds: int,
    validators: int | None,
    trainers: int | None,
    dataset: str | None,
    data_dir: Path | None,
    model: str | None,
    sync: str | None,
    seed: int | None,
    config_file: Path | None,
    attack: str | None,
    attackers: float,
    subnets: int | None,
    timeout: float,
) -> None:
    """Run a local decentralized FL network (3 validators, 7 trainers) and watch it learn."""
    try:
        cfg = load_config(
            config_file,
            **{
                "network.validators": validators,
                "network.trainers": trainers,
                "data.dataset": dataset,
                "data.data_dir": str(data_dir) if data_dir else None,
                "model.name": model,
                "sync.scheme": sync,
                "seed": seed,
                "attacks": [{"name": attack, "fraction": attackers}] if attack else None,
            },
        )
        if subnets is not None:
            # a model named by --model or the config file goes to every subnetwork
            cfg = split_config(cfg, subnets, same_model="model" in cfg.model_fields_set)
        subnet_runs(cfg)  # every [[subnets]] table must make a run configuration
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    out.mkdir(parents=True, exist_ok=True)
    if cfg.subnets:
        try:
            report = run_subnets_demo(out, cfg, rounds, timeout)
        except KeyboardInterrupt:
            raise click.ClickException("interrupted; every process was stopped") from None
        console.print(subnets_summary(report))
        console.print(f"report: {out / 'report.json'}, plot: {out / 'accuracy.png'}")
        return
    try:
        report = run_demo(out, cfg, rounds, timeout)
    except KeyboardInterrupt:
        raise click.ClickException("interrupted; every process was stopped") from None
    accs = [v["accuracy"] for v in report["versions"]]
    console.print(
        f"[bold]accuracy {accs[0]:.3f} → {accs[-1]:.3f}[/bold] over {len(accs) - 1} versions "
        f"in {report['wall_seconds']}s; validators agreed on every version: "
        f"{report['all_validators_agreed']}"
    )
    console.print(
        f"report: {out / 'report.json'}, plots: {out / 'accuracy.png'}, "
        f"{out / 'trust.png'}, model: {out / 'final_model.safetensors'}"
    )
