"""``flobc bench ledger``: the FL ledger's per-block cost over a long run (see
:mod:`flobc.bench.ledger`); the last blocks should cost no more than the first."""

from __future__ import annotations

import gc
import json
import os
import platform
import subprocess
from pathlib import Path

import click

from flobc.bench.ledger import run


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


@click.command("ledger")
@click.option("--rounds", type=click.IntRange(10), default=1000, show_default=True)
@click.option("--trainers", type=click.IntRange(1), default=4, show_default=True)
@click.option("--validators", type=click.IntRange(1), default=4, show_default=True)
@click.option(
    "--size", type=click.IntRange(1), default=16, show_default=True, help="Values per update."
)
@click.option(
    "--window", type=click.IntRange(1), default=100, show_default=True, help="Blocks compared."
)
@click.option("--repeat", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option(
    "--best-of",
    type=click.IntRange(1, 50),
    default=5,
    show_default=True,
    help="Executions of each block; the least CPU time is its execute_best cost.",
)
@click.option(
    "--store", type=click.Choice(["sqlite", "memory"]), default="sqlite", show_default=True
)
@click.option(
    "--base-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the temporary SQLite block store lives.",
)
@click.option(
    "--gc/--no-gc",
    "collect",
    default=True,
    show_default=True,
    help="Python's cyclic garbage collector on during the run (off: what it costs).",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def ledger(
    rounds: int,
    trainers: int,
    validators: int,
    size: int,
    window: int,
    repeat: int,
    best_of: int,
    store: str,
    base_dir: Path | None,
    collect: bool,
    json_out: Path | None,
) -> None:
    """Per-block execution cost of a long FL ledger: first vs last blocks (median, p95)."""
    was_on = gc.isenabled()
    if not collect:
        gc.disable()
    try:
        doc = _run(rounds, trainers, validators, size, window, repeat, best_of, store, base_dir)
    finally:
        if was_on:
            gc.enable()
    doc["workload"]["gc"] = collect
    _report(doc, repeat, json_out)


def _run(
    rounds: int,
    trainers: int,
    validators: int,
    size: int,
    window: int,
    repeat: int,
    best_of: int,
    store: str,
    base_dir: Path | None,
) -> dict:
    return run(
        rounds,
        repeat=repeat,
        trainers=trainers,
        validators=validators,
        size=size,
        window=window,
        store=store,
        base_dir=base_dir,
        best_of=best_of,
    )


def _report(doc: dict, repeat: int, json_out: Path | None) -> None:
    doc["machine"] = {"python": platform.python_version(), "cpus": _cpus(), "commit": _commit()}
    s = doc["summary"]
    w = doc["runs"][0]["window"]
    for what in ("execute_best", "cpu", "total"):
        click.echo(
            f"{what:>12}: first {w} blocks median {s[what]['first_median_ms']:.3f} ms, last {w} "
            f"{s[what]['last_median_ms']:.3f} ms, ratio {s[what]['ratio_median']:.2f} "
            f"(p95 ratio {s[what]['ratio_p95']:.2f}; medians of {repeat} runs)"
        )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(doc, indent=2) + "\n")
        click.echo(f"wrote {json_out}")


def _cpus() -> int:
    return os.cpu_count() or 0
