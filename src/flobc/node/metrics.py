"""Prometheus metrics of one validator, served at ``GET /metrics``.

Each node gets its own :class:`~prometheus_client.CollectorRegistry` (tests run several
nodes in one process, and the global registry would mix them). Gauges that mirror node
state (height, round, mempool, peers; the hosted application's, such as FL's model
version and trust) are read at scrape time from the same sources as ``/v1/status`` and
the application's API, on the event-loop thread, so a
scrape is a consistent snapshot and the numbers agree with those endpoints. Event
metrics (commit latency, committed transactions, bytes) are counted as they happen.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from flobc.chain.types import tx_hash
from flobc.node.http_runtime import RUNTIME_KEY
from flobc.node.peer_link import P2P_PATH, STREAM_PATH, LinkStats
from flobc.node.process import Action

if TYPE_CHECKING:
    from flobc.chain.types import Block
    from flobc.node.validator import ValidatorNode

METRICS_PATH = "/metrics"
#: Submission paths whose 202 answers start a commit-latency measurement.
_SUBMIT_PATHS = frozenset({"/v1/txs", "/v1/updates"})
#: Submitted-but-uncommitted transactions remembered for latency (oldest forgotten first).
_MAX_PENDING = 50_000
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class NodeMetrics:
    """The metrics of one validator.

    Construct it before the runtime, serve :attr:`route`, and add :meth:`middleware` to
    ``runtime.middlewares`` so traffic is counted (see :func:`flobc.node.launch`).
    """

    def __init__(
        self, node: ValidatorNode, app_metrics: Callable[[Any], Iterator[Metric]] | None = None
    ) -> None:
        self.node = node
        #: the hosted application's metrics (:meth:`flobc.node.hosting.NodeApp.metrics`)
        self.app_metrics = app_metrics
        node.commit_listeners.append(self.on_commit)
        self.route = web.get(METRICS_PATH, self.handle)
        self.links: dict[str, LinkStats] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.commit_latency = Histogram(
            "flobc_commit_latency_seconds",
            "Time from a transaction's acceptance by this node's API to its commit.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.block_interval = Histogram(
            "flobc_block_interval_seconds",
            "Wall-clock time between two consecutive commits on this node.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.txs_committed = 0
        self.blocks_committed = 0
        #: channel ("p2p" | "api") -> bytes; responses by status class ("2xx", ...)
        self.bytes_in: dict[str, int] = {"p2p": 0, "api": 0}
        self.stream_bytes_in = 0  # peer batches over persistent streams (read at scrape)
        self.bytes_out_api = 0
        self.responses: dict[str, int] = {}
        self._pending: OrderedDict[bytes, float] = OrderedDict()
        self._last_commit: float | None = None
        self.registry.register(_StateCollector(self))

    # ------------------------------------------------------------------ events

    def on_commit(self, block: Block, result: Any, now_ms: int) -> list[Action]:
        """Commit listener: count transactions, observe latencies and the block interval."""
        now = time.monotonic()
        if self._last_commit is not None:
            self.block_interval.observe(now - self._last_commit)
        self._last_commit = now
        self.blocks_committed += 1
        self.txs_committed += len(block.txs)
        if self._pending:
            for raw in block.txs:
                started = self._pending.pop(tx_hash(raw), None)
                if started is not None:
                    self.commit_latency.observe(now - started)
        return []

    def _submitted(self, resp: web.StreamResponse) -> None:
        body = getattr(resp, "body", None)
        if not isinstance(body, bytes):
            return
        try:
            h = bytes.fromhex(json.loads(body)["hash"])
        except (ValueError, KeyError, TypeError):
            return
        self._pending[h] = time.monotonic()
        while len(self._pending) > _MAX_PENDING:
            self._pending.popitem(last=False)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count request and response bytes and status classes; note submissions."""
        resp = await handler(request)
        channel = "p2p" if request.path in (P2P_PATH, STREAM_PATH) else "api"
        self.bytes_in[channel] += getattr(request.content, "total_bytes", 0)
        if channel == "api":
            self.bytes_out_api += resp.content_length or 0
        klass = f"{resp.status // 100}xx"
        self.responses[klass] = self.responses.get(klass, 0) + 1
        if resp.status == 202 and request.method == "POST" and request.path in _SUBMIT_PATHS:
            self._submitted(resp)
        return resp

    # ------------------------------------------------------------------ exposition

    async def handle(self, request: web.Request) -> web.Response:
        """``GET /metrics``: the Prometheus text format, rendered on the loop thread."""
        rt = request.app[RUNTIME_KEY]

        def render(node: ValidatorNode, now: int) -> tuple[bytes, list[Action]]:
            self.links = rt.link_stats()
            self.stream_bytes_in = rt.stream_bytes_received
            return generate_latest(self.registry), []

        body = await rt.call(render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class _StateCollector(Collector):
    """Reads node and application state at scrape time (called on the event-loop thread)."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.m
        node = m.node
        st = node.status()
        yield _gauge("flobc_height", "Height of the last committed block.", st["height"])
        yield _gauge(
            "flobc_consensus_round", "Tendermint round at the current height.", st["round"]
        )
        yield _gauge("flobc_mempool_transactions", "Transactions in the mempool.", st["mempool"])
        peers = st["peers"]
        yield _gauge("flobc_peers", "Validators this node connects to.", len(peers))
        yield _gauge(
            "flobc_peers_reporting",
            "Peers that have reported their height.",
            sum(h is not None for h in peers.values()),
        )
        ph = GaugeMetricFamily("flobc_peer_height", "Last height a peer reported.", labels=["peer"])
        for pid, h in sorted(peers.items()):
            if h is not None:
                ph.add_metric([pid], h)
        yield ph
        yield _counter(
            "flobc_transactions_committed",
            "Transactions committed since this node started.",
            m.txs_committed,
        )
        yield _counter(
            "flobc_blocks_committed",
            "Blocks committed since this node started.",
            m.blocks_committed,
        )
        links = m.links
        rx = CounterMetricFamily(
            "flobc_received_bytes", "Request body bytes received.", labels=["channel"]
        )
        for channel, n in sorted(m.bytes_in.items()):
            rx.add_metric([channel], n + (m.stream_bytes_in if channel == "p2p" else 0))
        yield rx
        tx = CounterMetricFamily(
            "flobc_sent_bytes",
            "Bytes sent: peer message batches (p2p) and API response bodies (api).",
            labels=["channel"],
        )
        tx.add_metric(["api"], m.bytes_out_api)
        tx.add_metric(["p2p"], sum(s.bytes_sent for s in links.values()))
        yield tx
        yield _counter(
            "flobc_p2p_messages_sent",
            "Messages delivered to peers.",
            sum(s.messages_sent for s in links.values()),
        )
        yield _counter(
            "flobc_p2p_messages_dropped",
            "Messages dropped (full queue or rejected by the peer).",
            sum(s.dropped + s.rejected for s in links.values()),
        )
        resp = CounterMetricFamily(
            "flobc_http_responses", "HTTP answers by status class.", labels=["code"]
        )
        for klass, n in sorted(m.responses.items()):
            resp.add_metric([klass], n)
        yield resp
        if m.app_metrics is not None:
            yield from m.app_metrics(node.app)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


__all__ = ["METRICS_PATH", "NodeMetrics"]
