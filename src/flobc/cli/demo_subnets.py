"""``flobc demo --subnets N``: several models trained side by side on one chain (§IV.C).

One network folder, one validator set, one ledger; each subnetwork has its own trainer
processes, model, sync scheme and aggregation. One :class:`Watcher` per subnetwork follows
its versions through ``?subnet=NAME``; the report has one section per subnetwork.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from flobc.cli.dashboard import dashboard_url
from flobc.experiments.plots import line_plot
from flobc.node_apps.fl.settings import FLRunConfig
from flobc.node_apps.fl.subnets import subnet_runs
from flobc.orchestration.fl_setup import create_fl_network, total_trainers
from flobc.orchestration.processes import RunningNetwork, StartError, started
from flobc.orchestration.watch import NotReached, Watcher

console = Console()


def _view(watchers: dict[str, Watcher], rounds: int) -> Group:
    """One row per subnetwork: its model, versions so far, accuracy and decisions."""
    table = Table(title=f"model subnetworks ({rounds} rounds each)", title_justify="left")
    for col in ("subnet", "model", "scheme", "version", "test acc", "acc/rej", "agree"):
        table.add_column(col, justify="left" if col in ("subnet", "model", "scheme") else "right")
    for name, w in watchers.items():
        last = w.records[-1] if w.records else None
        table.add_row(
            name,
            w.cfg.model.name,
            w.cfg.sync.scheme,
            str(last.version) if last else "-",
            f"{last.accuracy:.4f}" if last else "-",
            f"{last.accepted}/{last.rejected}" if last else "-",
            ("yes" if all(r.agreed for r in w.records) else "[red]NO[/red]") if last else "-",
        )
    return Group(table)


def run_subnets_demo(out: Path, cfg: FLRunConfig, rounds: int, timeout_s: float) -> dict[str, Any]:
    """Create, start, watch (every subnetwork to ``rounds`` versions) and stop the network;
    return the report document."""
    netdir = out / "network"
    nodes = create_fl_network(netdir, cfg)
    runs = subnet_runs(cfg)
    begun = time.monotonic()
    net: RunningNetwork | None = None
    console.print(
        f"starting {cfg.network.validators} validators and {total_trainers(cfg)} trainers "
        f"in {len(runs)} subnetworks ({', '.join(r.name for r in runs)}) as processes ..."
    )
    console.print(f"[bold]dashboard:[/bold] {dashboard_url(nodes[0])}")
    try:
        with started(netdir) as net:
            watchers = {r.name: Watcher(r.cfg, net.validators, r.name) for r in runs}
            deadline = begun + timeout_s
            with Live(_view(watchers, rounds), console=console, refresh_per_second=4) as live:
                while not all(
                    w.records and w.records[-1].version >= rounds for w in watchers.values()
                ):
                    if time.monotonic() > deadline:
                        raise NotReached(f"not {rounds} model versions in every subnetwork")
                    for w in watchers.values():
                        w.poll()
                    live.update(_view(watchers, rounds))
                    time.sleep(0.2)
            trainers = {n: w.trainers() for n, w in watchers.items()}
    except StartError as exc:
        raise click.ClickException(str(exc)) from exc
    except NotReached:
        raise click.ClickException(
            f"not every subnetwork reached {rounds} rounds in {timeout_s}s"
        ) from None
    finally:
        if net is not None:
            console.print(f"stopped {len(net.stopped)} processes")
    return _write_report(out, cfg, watchers, trainers, time.monotonic() - begun)


def _write_report(
    out: Path,
    cfg: FLRunConfig,
    watchers: dict[str, Watcher],
    trainers: dict[str, list[dict[str, Any]]],
    wall_s: float,
) -> dict[str, Any]:
    subnets = []
    for name, w in watchers.items():
        versions = w.as_json()
        subnets.append(
            {
                "name": name,
                "model": w.cfg.model.name,
                "scheme": w.cfg.sync.scheme,
                "aggregator": w.cfg.aggregation.rule,
                "first_accuracy": versions[0]["accuracy"],
                "final_accuracy": versions[-1]["accuracy"],
                "all_validators_agreed": all(v["agreed"] for v in versions),
                "trainers": trainers[name],
                "versions": versions,
            }
        )
        _export_final(out, w, name, next(h for h in versions[-1]["hashes"].values() if h))
    report = {
        "config": cfg.model_dump(mode="json"),
        "wall_seconds": round(wall_s, 1),
        "subnets": subnets,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    line_plot(
        out / "accuracy.png",
        {
            s["name"]: (
                [v["version"] for v in s["versions"]],
                [v["accuracy"] for v in s["versions"]],
            )
            for s in subnets
        },
        title="Accuracy per model version, one line per subnetwork",
        xlabel="version",
        ylabel="test accuracy",
        ylim=(0, 1),
    )
    ledgers = out / "ledgers"
    ledgers.mkdir(exist_ok=True)
    for home in sorted((out / "network").glob("validator-*")):
        shutil.copy(home / "data" / "ledger.sqlite", ledgers / f"{home.name}.sqlite")
    return report


def _export_final(out: Path, w: Watcher, name: str, hash_hex: str) -> None:
    """Subnetwork ``name``'s final weights as safetensors, from validator-0's blob store
    (every validator holds every subnetwork's versions: one ledger)."""
    from flobc.chain.blobs import FileBlobStore
    from flobc.ml.weights import to_safetensors, vector_view

    store = FileBlobStore(out / "network" / "validator-0" / "data" / "blobs")
    data = store.get(bytes.fromhex(hash_hex))
    if data is not None:
        path = out / f"final_model-{name}.safetensors"
        path.write_bytes(to_safetensors(vector_view(data), w.learner.spec))


def summary(report: dict[str, Any]) -> str:
    """One line per subnetwork for the console."""
    return "\n".join(
        f"[bold]{s['name']}[/bold] ({s['model']}, {s['scheme']}): accuracy "
        f"{s['first_accuracy']:.3f} → {s['final_accuracy']:.3f} over "
        f"{len(s['versions']) - 1} versions; validators agreed: {s['all_validators_agreed']}"
        for s in report["subnets"]
    )
