"""``flobc bench consensus``: commit latency and throughput of real validator processes on
loopback, and the simulator's speed. A benchmark, not a test: it reports, it asserts nothing.

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
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import click

from flobc.app.kvstore import kv_tx
from flobc.chain.genesis import ConsensusParams
from flobc.chain.types import tx_hash
from flobc.crypto import KeyPair
from flobc.node.client import ApiRejected, AsyncValidatorClient, ClientError
from flobc.orchestration import processes as net
from flobc.orchestration.netdir import create_network, list_nodes

#: Low-latency consensus for loopback: no commit wait, short round timeouts.
BENCH_PARAMS = dict(
    timeout_propose_ms=500,
    timeout_propose_delta_ms=250,
    timeout_prevote_ms=250,
    timeout_prevote_delta_ms=100,
    timeout_precommit_ms=250,
    timeout_precommit_delta_ms=100,
    timeout_commit_ms=0,
)


@dataclass
class LocalNet:
    """A running network of validator processes in a temporary folder."""

    netdir: Path
    chain_id: str
    urls: list[str]
    pids: list[int]


@contextmanager
def local_network(n: int, empty_block_ms: int, base: Path | None = None) -> Iterator[LocalNet]:
    """Create and start ``n`` validators in a temporary folder under ``base``; stop them and
    delete the folder afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix=f"flobc-bench-{n}-", dir=base))
    netdir = tmp / "net"
    params = ConsensusParams(**BENCH_PARAMS, empty_block_interval_ms=empty_block_ms)
    genesis = create_network(netdir, validators=n, consensus=params)
    rows: list[net.NodeRow] = []
    try:
        rows = net.up(netdir, timeout=30)
        bad = [f"{r.entry.name}: {r.state}" for r in rows if r.state != net.READY]
        if bad:
            raise click.ClickException("validators did not start: " + "; ".join(bad))
        urls = [e.url for e in list_nodes(netdir)]
        yield LocalNet(netdir, genesis.chain_id, urls, [r.pid or 0 for r in rows])
    finally:
        net.down(netdir)
        for r in rows:
            if r.proc is not None:
                r.proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


class OtherLoad:
    """CPU cores used by every process but this one and ``pids`` since creation: the noise
    other work on the machine adds to a measurement."""

    def __init__(self, pids: list[int] | None = None):
        self.pids = pids or []
        self._t0, self._busy0, self._ours0 = self._read()

    def _read(self) -> tuple[float, float, float]:
        tick = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:9]]
        busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / tick  # all but idle and iowait
        me = resource.getrusage(resource.RUSAGE_SELF)
        ours = me.ru_utime + me.ru_stime + process_cpu_s(self.pids)
        return time.monotonic(), busy, ours

    def cores(self) -> float:
        t, busy, ours = self._read()
        return max(0.0, (busy - self._busy0) - (ours - self._ours0)) / max(1e-9, t - self._t0)


def process_cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes ``pids`` have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else float("nan")


async def _wait_height(client: AsyncValidatorClient, height: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await client.height() < height:
        if time.monotonic() > deadline:
            raise click.ClickException(f"{client.url} did not reach height {height}")
        await asyncio.sleep(0.01)


async def measure_latency(ln: LocalNet, samples: int, poll_ms: float) -> dict[str, float]:
    """Submit ``samples`` transactions one at a time (rotating validators), time each commit."""
    txs = [kv_tx(ln.chain_id, KeyPair.generate(), f"lat{i}", "v", 1) for i in range(samples)]
    lat: list[float] = []
    async with aiohttp.ClientSession() as session:
        clients = [AsyncValidatorClient(u, session) for u in ln.urls]
        await _wait_height(clients[0], 2, 10)
        cpu0 = process_cpu_s(ln.pids)
        for i, tx in enumerate(txs):
            c = clients[i % len(clients)]
            t0 = time.perf_counter()
            h = await c.submit(tx)
            while not (await c.tx_status(h)).committed:
                if time.perf_counter() - t0 > 30:
                    raise click.ClickException(f"tx {h} not committed after 30 s")
                await asyncio.sleep(poll_ms / 1000)
            lat.append((time.perf_counter() - t0) * 1000)
        cpu = process_cpu_s(ln.pids) - cpu0
    return {
        # the validators' CPU per sample (a transaction, about a height): what the commit
        # costs, which another load on the machine does not change (wall latency it does)
        "latency_node_cpu_ms": cpu * 1000 / samples,
        "latency_p50_ms": _pct(lat, 0.5),
        "latency_p95_ms": _pct(lat, 0.95),
        "latency_max_ms": max(lat),
    }


async def measure_propagation(
    ln: LocalNet, samples: int, blob_mb: float, poll_ms: float
) -> dict[str, float]:
    """Time a transaction with a ``blob_mb`` MB blob from submission until every validator
    holds it; each sample enters at another validator (rotating)."""
    rng = random.Random(7)
    size = int(blob_mb * 1_000_000)
    key = KeyPair.generate()
    times: list[float] = []
    async with aiohttp.ClientSession() as session:
        clients = [AsyncValidatorClient(u, session, timeout=60) for u in ln.urls]
        await _wait_height(clients[0], 2, 10)
        for i in range(samples):
            blob = rng.randbytes(size)
            raw = kv_tx(ln.chain_id, key, f"blob{i}", "v", i + 1).encoded()
            entry = clients[i % len(clients)]
            t0 = time.perf_counter()
            h = await entry.submit_raw(raw, [blob])
            waiting = [c for c in clients if c is not entry]
            while waiting:
                held = await asyncio.gather(*(c.tx_status(h) for c in waiting))
                waiting = [c for c, st in zip(waiting, held, strict=True) if st.state == "unknown"]
                if time.perf_counter() - t0 > 30:
                    raise click.ClickException(f"a {blob_mb} MB transaction did not spread in 30 s")
                if waiting:
                    await asyncio.sleep(poll_ms / 1000)
            times.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.05)
    return {
        "blob_to_all_p50_ms": _pct(times, 0.5),
        "blob_to_all_p95_ms": _pct(times, 0.95),
        "blob_mb": blob_mb,
    }


async def measure_throughput(
    ln: LocalNet,
    duration: float,
    warmup: float,
    submitters: int,
    total_txs: int,
    inflight: int,
    batch: int = 1,
) -> dict[str, float]:
    """Keep up to ``inflight`` pre-signed transactions submitted but not yet committed (each
    submitter owns one key, so its nonces arrive in order); count the committed ones in the
    blocks of a window that starts after ``warmup`` seconds. With ``batch`` > 1 a submitter
    sends up to that many of its transactions per ``POST /v1/tx-batches`` (as many as the
    window has room for, at least one); with 1, one ``POST /v1/txs`` each."""
    per = max(1, total_txs // submitters)
    keys = [KeyPair.generate() for _ in range(submitters)]
    signed = [
        [kv_tx(ln.chain_id, k, f"t{w}.{j}", "v", j).encoded() for j in range(1, per + 1)]
        for w, k in enumerate(keys)
    ]
    ours = {tx_hash(raw).hex() for txs in signed for raw in txs}
    window = asyncio.Semaphore(inflight)
    committed, rejected, requests = 0, 0, 0

    async def submit_one(raw: bytes, client: AsyncValidatorClient) -> None:
        nonlocal rejected, requests
        while True:
            requests += 1
            try:
                await client.submit_raw(raw)
                return
            except ApiRejected as exc:
                if exc.status != 429:  # mempool full: retry; anything else: skip
                    rejected += 1
                    window.release()
                    return
                await asyncio.sleep(0.005)
            except ClientError:
                await asyncio.sleep(0.05)

    async def submit_many(chunk: list[bytes], client: AsyncValidatorClient) -> None:
        nonlocal rejected, requests
        while chunk:
            requests += 1
            try:
                results = await client.submit_batch(chunk)
            except ClientError:
                await asyncio.sleep(0.05)
                continue
            retry = []
            for raw, res in zip(chunk, results, strict=True):
                if res.accepted:
                    continue
                if res.code == 429:  # mempool full: again, in order
                    retry.append(raw)
                else:
                    rejected += 1
                    window.release()
            chunk = retry
            if chunk:
                await asyncio.sleep(0.005)

    async def submitter(txs: list[bytes], client: AsyncValidatorClient) -> None:
        i = 0
        while i < len(txs):
            await window.acquire()
            n = 1
            while n < batch and i + n < len(txs) and not window.locked():
                await window.acquire()
                n += 1
            chunk, i = txs[i : i + n], i + n
            if batch == 1:
                await submit_one(chunk[0], client)
            else:
                await submit_many(chunk, client)

    async def follow(client: AsyncValidatorClient, height: int) -> None:
        nonlocal committed
        while True:
            block = await client.block(height)
            if block is None:
                await asyncio.sleep(0.002)
                continue
            for h in block["tx_hashes"]:
                if h in ours:
                    ours.discard(h)
                    committed += 1
                    window.release()
            height += 1

    connector = aiohttp.TCPConnector(limit=submitters + 8)
    async with aiohttp.ClientSession(connector=connector) as session:
        clients = [AsyncValidatorClient(u, session, timeout=60) for u in ln.urls]
        probe = clients[0]
        await _wait_height(probe, 2, 10)
        follower = asyncio.create_task(follow(probe, await probe.height() + 1))
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        tasks = [
            asyncio.create_task(submitter(txs, clients[w % len(clients)]))
            for w, txs in enumerate(signed)
        ]
        await asyncio.sleep(warmup)
        h0, c0, t0 = await probe.height(), committed, time.perf_counter()
        r0, n0 = requests, process_cpu_s(ln.pids)
        deadline = t0 + duration
        while time.perf_counter() < deadline and ours:
            await asyncio.sleep(0.01)
        h1, c1, t1 = await probe.height(), committed, time.perf_counter()
        r1, n1 = requests, process_cpu_s(ln.pids)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        for t in [*tasks, follower]:
            t.cancel()
        await asyncio.gather(*tasks, follower, return_exceptions=True)
    span = t1 - t0
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    return {
        "throughput_tx_s": (c1 - c0) / span,
        "blocks_s": (h1 - h0) / span,
        "txs_per_block": (c1 - c0) / max(1, h1 - h0),
        "requests_s": (r1 - r0) / span,
        # the validators' CPU per committed transaction (all of them together)
        "throughput_node_cpu_ms_per_tx": (n1 - n0) * 1000 / max(1, c1 - c0),
        "window_s": span,
        "rejected": rejected,
        "exhausted": float(not ours),
        "client_cpu": cpu / (warmup + span),
    }


def measure_sim(n: int, wall_s: float, tx_every_ms: int) -> dict[str, float]:
    """Simulated seconds per wall second for ``n`` simulated validators under a steady load."""
    from flobc.sim.ledger import SimLedger

    ledger = SimLedger(n, seed=1)
    client = KeyPair.generate()
    chain, nonce, i = ledger.genesis.chain_id, 1, 0
    start_sim, t0 = ledger.cluster.now, time.perf_counter()
    while time.perf_counter() - t0 < wall_s:
        for _ in range(max(1, 200 // tx_every_ms)):
            up = ledger.up()
            if ledger.submit(up[i % len(up)], kv_tx(chain, client, f"s{nonce}", "v", nonce)).ok:
                nonce += 1
            i += 1
            ledger.run_for(tx_every_ms)
    wall = time.perf_counter() - t0
    sim_s = (ledger.cluster.now - start_sim) / 1000
    return {
        "sim_s_per_wall_s": sim_s / wall,
        "sim_blocks": float(min(ledger.heights())),
        "sim_txs": float(len(ledger.acknowledged)),
    }


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
