"""``flobc bench consensus``: commit latency and throughput of real validator processes on
loopback, and the simulator's speed (the measurements live in :mod:`flobc.bench.consensus`).
A benchmark, not a test: it reports, it asserts nothing.

* latency: one transaction at a time, submit -> ``GET /v1/txs/{h}`` answers 200 (polled
  every ``--poll-ms``) on the validator it was sent to;
* throughput: many concurrent submitters (one key each, transactions signed beforehand,
  sent ``--batch`` at a time through ``POST /v1/tx-batches``), committed transactions
  counted from the blocks of a fixed window after a warm-up;
* propagation: a transaction carrying a ``--blob-mb`` blob (the size of a model update) is
  submitted to one validator; timed until every validator holds it (``GET /v1/txs/{h}``
  answers pending or committed on each, polled every ``--poll-ms``). On the key-value app
  the blob travels with the transaction's gossip but is not stored (the FL app stores it);
* simulator: simulated seconds per wall-clock second under a steady transaction load.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from flobc.bench.consensus import (
    BENCH_PARAMS,
    BenchError,
    OtherLoad,
    local_network,
    measure_latency,
    measure_propagation,
    measure_sim,
    measure_throughput,
)


def _summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    keys = sorted({k for r in runs for k in r})
    out: dict[str, Any] = {}
    for k in keys:
        vals = [r[k] for r in runs if k in r]
        out[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
    return out


def _fmt(s: dict[str, Any], key: str, digits: int = 1) -> str:
    if key not in s:
        return "-"
    v = s[key]
    med = f"{v['median']:.{digits}f}"
    if v["min"] == v["max"]:
        return med
    return f"{med} ({v['min']:.{digits}f}-{v['max']:.{digits}f})"


def _one_line_errors(command: Callable[..., None]) -> Callable[..., None]:
    """A benchmark network that misbehaves (:class:`BenchError`) ends the command with a
    one-line error, not a traceback."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except BenchError as exc:
            raise click.ClickException(str(exc)) from exc

    return run


@click.group()
def bench() -> None:
    """Benchmarks (they measure and report; they are not tests)."""


@bench.command()
@click.option("--sizes", default="4,7", show_default=True, help="Validator counts.")
@click.option("--duration", type=float, default=10.0, show_default=True, help="Window (s).")
@click.option("--warmup", type=float, default=2.0, show_default=True)
@click.option("--runs", type=click.IntRange(1, 20), default=1, show_default=True)
@click.option("--samples", type=click.IntRange(1), default=150, show_default=True)
@click.option("--poll-ms", type=float, default=1.0, show_default=True)
@click.option("--submitters", type=click.IntRange(1), default=64, show_default=True)
@click.option(
    "--batch",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="Most transactions per submission request (1: POST /v1/txs, one each).",
)
@click.option("--txs", "total_txs", type=click.IntRange(1), default=40_000, show_default=True)
@click.option(
    "--inflight",
    type=click.IntRange(1),
    default=500,
    show_default=True,
    help="Most transactions submitted but not yet committed.",
)
@click.option("--empty-block-ms", type=click.IntRange(1), default=100, show_default=True)
@click.option("--sim-tx-ms", type=click.IntRange(1), default=10, show_default=True)
@click.option("--blob-mb", type=click.FloatRange(0.001, 30), default=5.0, show_default=True)
@click.option("--blob-samples", type=click.IntRange(1), default=20, show_default=True)
@click.option(
    "--only",
    type=click.Choice(["latency", "throughput", "propagation", "sim"]),
    multiple=True,
    help="Run only these parts (repeatable); default: all.",
)
@click.option(
    "--base-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the temporary networks live (e.g. /dev/shm to leave out disk syncs).",
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None)
@_one_line_errors
def consensus(
    sizes: str,
    duration: float,
    warmup: float,
    runs: int,
    samples: int,
    poll_ms: float,
    submitters: int,
    batch: int,
    total_txs: int,
    inflight: int,
    empty_block_ms: int,
    sim_tx_ms: int,
    blob_mb: float,
    blob_samples: int,
    only: tuple[str, ...],
    base_dir: Path | None,
    json_out: Path | None,
) -> None:
    """Commit latency, throughput, propagation of an update-sized transaction (real
    processes on loopback) and simulator speed."""
    from rich.console import Console
    from rich.table import Table

    parts = set(only or ("latency", "throughput", "propagation", "sim"))
    ns = [int(s) for s in sizes.split(",") if s.strip()]
    console = Console(stderr=True)
    results: dict[int, list[dict[str, float]]] = {n: [] for n in ns}
    for run in range(runs):
        for n in ns:
            row: dict[str, float] = {}
            if parts & {"latency", "throughput", "propagation"}:
                with local_network(n, empty_block_ms, base_dir) as ln:
                    other = OtherLoad(ln.pids)
                    if "latency" in parts:
                        console.log(f"run {run + 1}/{runs} n={n}: latency, {samples} samples")
                        row |= asyncio.run(measure_latency(ln, samples, poll_ms))
                    if "propagation" in parts:
                        console.log(
                            f"run {run + 1}/{runs} n={n}: {blob_mb:g} MB to every validator, "
                            f"{blob_samples} samples"
                        )
                        row |= asyncio.run(measure_propagation(ln, blob_samples, blob_mb, poll_ms))
                    if "throughput" in parts:
                        console.log(f"run {run + 1}/{runs} n={n}: throughput, {duration:g}s")
                        row |= asyncio.run(
                            measure_throughput(
                                ln, duration, warmup, submitters, total_txs, inflight, batch
                            )
                        )
                    row["other_cpu"] = other.cores()
            if "sim" in parts:
                console.log(f"run {run + 1}/{runs} n={n}: simulator, {duration:g}s")
                other = OtherLoad()
                row |= measure_sim(n, duration, sim_tx_ms)
                row["other_cpu_sim"] = other.cores()
            results[n].append(row)
    summary = {n: _summary(r) for n, r in results.items()}
    table = Table(title=f"flobc bench consensus: median (min-max) of {runs} run(s)")
    cols = [
        ("latency p50 ms", "latency_p50_ms", 1),
        ("latency p95 ms", "latency_p95_ms", 1),
        ("tx/s", "throughput_tx_s", 0),
        ("blocks/s", "blocks_s", 1),
        ("blob to all p50 ms", "blob_to_all_p50_ms", 1),
        ("txs/block", "txs_per_block", 0),
        ("node CPU ms / latency tx", "latency_node_cpu_ms", 1),
        ("node CPU ms / tx", "throughput_node_cpu_ms_per_tx", 2),
        ("client CPU", "client_cpu", 2),
        ("other CPU", "other_cpu", 2),
        ("sim s / wall s", "sim_s_per_wall_s", 2),
    ]
    table.add_column("n")
    for title, _, _ in cols:
        table.add_column(title, justify="right")
    for n, s in summary.items():
        table.add_row(str(n), *(_fmt(s, key, d) for _, key, d in cols))
    out = Console()
    if not out.is_terminal:  # piped: keep the table readable
        out = Console(width=160)
    out.print(table)
    click.echo(
        "client CPU: cores used by this benchmark process; other CPU: cores used by every "
        f"other process on this {os.cpu_count()}-CPU machine during the measurement"
    )
    if json_out is not None:
        git = ["git", "-C", str(Path(__file__).parent), "describe", "--always", "--dirty"]
        rev = subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip()
        doc = {
            "commit": rev or None,
            "cpus": os.cpu_count(),
            "options": {k: v for k, v in click.get_current_context().params.items()}
            | {"base_dir": str(base_dir or tempfile.gettempdir()), "json_out": str(json_out)},
            "consensus": BENCH_PARAMS | {"empty_block_interval_ms": empty_block_ms},
            "runs": {str(n): r for n, r in results.items()},
            "summary": {str(n): s for n, s in summary.items()},
        }
        json_out.write_text(json.dumps(doc, indent=2))
        click.echo(f"wrote {json_out}")


def _add_round() -> None:
    """``flobc bench round`` lives in its own module (FLoBC vs Flower)."""
    from flobc.cli.bench_round import round_

    bench.add_command(round_, "round")


_add_round()


def _add_ledger() -> None:
    """``flobc bench ledger``: the FL ledger's per-block cost over a long run."""
    from flobc.cli.bench_ledger import ledger

    bench.add_command(ledger, "ledger")


_add_ledger()
