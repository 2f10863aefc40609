"""The consensus benchmark's measurements on real validator processes and on the simulator.

A benchmark, not a test: each function reports numbers and asserts nothing. The command
that runs them and prints the table is ``flobc bench consensus`` (:mod:`flobc.cli.bench`).

* latency: one transaction at a time, submit -> ``GET /v1/txs/{h}`` answers 200 (polled
  every ``poll_ms``) on the validator it was sent to;
* throughput: many concurrent submitters (one key each, transactions signed beforehand,
  sent ``batch`` at a time through ``POST /v1/tx-batches``), committed transactions
  counted from the blocks of a fixed window after a warm-up;
* propagation: a transaction carrying a blob (the size of a model update) is submitted to
  one validator; timed until every validator holds it (``GET /v1/txs/{h}`` answers pending
  or committed on each). On the key-value app the blob travels with the transaction's
  gossip but is not stored (the FL app stores it);
* simulator: simulated seconds per wall-clock second under a steady transaction load.
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from flobc.app.kvstore import kv_tx
from flobc.chain.genesis import ConsensusParams
from flobc.chain.types import tx_hash
from flobc.crypto import KeyPair
from flobc.node.client import ApiRejected, AsyncValidatorClient, ClientError
from flobc.orchestration import processes as net
from flobc.orchestration.netdir import create_network, list_nodes


class BenchError(RuntimeError):
    """A network the benchmark started did not behave (did not start, stalled): the run
    cannot measure, and says why in one line."""


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
            raise BenchError("validators did not start: " + "; ".join(bad))
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
            raise BenchError(f"{client.url} did not reach height {height}")
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
                    raise BenchError(f"tx {h} not committed after 30 s")
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
                    raise BenchError(f"a {blob_mb} MB transaction did not spread in 30 s")
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
