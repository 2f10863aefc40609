"""Hosts sans-I/O processes on a virtual clock and an in-memory network.

A :class:`Cluster` owns a :class:`Scheduler`, a :class:`Network` and a :class:`Trace`, all
seeded by one integer. It feeds processes their events, applies the actions they return
(``Send``/``Broadcast`` through the network, ``SetTimer``/``CancelTimer`` through a
per-process timer table), and can crash, restart and skew the clock of any node.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from flobc.node.process import Action, Broadcast, CancelTimer, Process, Send, SetTimer
from flobc.sim.network import Network, NetworkConfig, link_seed
from flobc.sim.scheduler import Handle, Scheduler
from flobc.sim.stats import NetStats
from flobc.sim.trace import Trace, TraceEvent

__all__ = ["CallFn", "Cluster", "NodeDownError", "ProcessFactory"]

#: Builds a fresh process object (e.g. from the node's persisted state) for a restart.
ProcessFactory = Callable[[], Process]
#: ``fn(process, local_now_ms) -> actions``: an external call into a node.
CallFn = Callable[[Any, int], list[Action] | None]


class NodeDownError(LookupError):
    """The node is crashed (or was never added)."""


class _Node:
    __slots__ = ("node_id", "peers", "process", "skew", "start_handle", "timers")

    def __init__(self, node_id: str, process: Process, skew: int, peers: list[str] | None):
        self.node_id = node_id
        self.process: Process | None = process
        self.skew = skew
        self.peers = peers
        self.start_handle: Handle | None = None
        #: timer name -> (scheduler handle, due time on the node's local clock)
        self.timers: dict[Hashable, tuple[Handle, int]] = {}


class Cluster:
    """A simulated deployment: processes + virtual clock + faulty network, one seed."""

    def __init__(
        self,
        seed: int = 0,
        config: NetworkConfig | None = None,
        *,
        start_ms: int = 0,
        trace: bool = True,
        keep_events: bool = False,
    ) -> None:
        self.seed = seed
        self.scheduler = Scheduler(start_ms)
        self.trace = Trace(enabled=trace, keep=keep_events)
        self.network = Network(self.scheduler, seed, config, trace=self.trace)
        self._nodes: dict[str, _Node] = {}

    # ------------------------------------------------------------------ membership

    def add(
        self,
        process: Process,
        *,
        skew_ms: int = 0,
        peers: Iterable[str] | None = None,
        start: bool = True,
    ) -> Process:
        """Host ``process`` (at any time); unless ``start=False``, schedule its ``start`` now.

        The node can receive messages at once, but ``start`` runs as an event at the
        current time, so every node added at one instant is reachable before any starts
        (a :meth:`call` before then runs ``start`` first). ``peers`` limits where its
        ``Broadcast`` goes (default: every other node).
        """
        nid = process.node_id
        if nid in self._nodes:
            raise ValueError(f"node {nid!r} already exists (use restart)")
        node = _Node(nid, process, skew_ms, list(peers) if peers is not None else None)
        self._nodes[nid] = node
        self._attach(node, process, "add", start)
        return process

    def crash(self, node_id: str) -> None:
        """Stop a node: drop its process object, cancel its timers, drop messages to it."""
        node = self._node(node_id)
        if node.process is None:
            return
        for handle, _ in node.timers.values():
            handle.cancel()
        node.timers.clear()
        if node.start_handle is not None:
            node.start_handle.cancel()
            node.start_handle = None
        node.process = None
        self.network.unregister(node_id)
        self.trace.record(self.now, "crash", node_id)

    def restart(self, node_id: str, factory: ProcessFactory) -> Process:
        """Replace ``node_id`` by ``factory()`` (crashing it first if up); start it now.

        As with :meth:`add`, ``start`` runs as an event at the current virtual time.
        """
        node = self._node(node_id)
        self.crash(node_id)
        process = factory()
        if process.node_id != node_id:
            raise ValueError(f"factory built {process.node_id!r}, expected {node_id!r}")
        self._attach(node, process, "restart", True)
        return process

    def _attach(self, node: _Node, process: Process, kind: str, start: bool) -> None:
        node.process = process
        nid = node.node_id
        sched = self.scheduler

        def handler(sender: str, msg: Any) -> None:
            actions = process.on_message(sender, msg, sched._now + node.skew)
            if actions:
                self._apply(node, process, actions)

        self.network.register(nid, process.message_type, handler)
        self.trace.record(self.now, kind, nid)
        if start:
            node.start_handle = sched.call_soon(self._start, node, process)

    def _start(self, node: _Node, process: Process) -> None:
        node.start_handle = None
        self.trace.record(self.now, "start", node.node_id)
        actions = process.start(self.now + node.skew)
        if actions:
            self._apply(node, process, actions)

    def _node(self, node_id: str) -> _Node:
        node = self._nodes.get(node_id)
        if node is None:
            raise NodeDownError(f"no node {node_id!r}")
        return node

    def process(self, node_id: str) -> Any:
        """The live process object of ``node_id``; raises :class:`NodeDownError` if down."""
        proc = self._node(node_id).process
        if proc is None:
            raise NodeDownError(f"node {node_id!r} is crashed")
        return proc

    __getitem__ = process

    def is_up(self, node_id: str) -> bool:
        node = self._nodes.get(node_id)
        return node is not None and node.process is not None

    @property
    def node_ids(self) -> list[str]:
        """Every node added, crashed or not, in the order added."""
        return list(self._nodes)

    @property
    def processes(self) -> dict[str, Any]:
        """The live processes by node id."""
        return {n: node.process for n, node in self._nodes.items() if node.process is not None}

    def set_peers(self, node_id: str, peers: Iterable[str] | None) -> None:
        """Where ``node_id``'s broadcasts go from now on (``None``: every other node)."""
        self._node(node_id).peers = list(peers) if peers is not None else None

    # ------------------------------------------------------------------ clocks & timers

    @property
    def now(self) -> int:
        """Virtual (true) time in ms."""
        return self.scheduler.now

    def local_now(self, node_id: str) -> int:
        """The time ``node_id``'s clock shows: virtual time + its skew."""
        return self.scheduler.now + self._node(node_id).skew

    def skew(self, node_id: str) -> int:
        return self._node(node_id).skew

    def set_skew(self, node_id: str, skew_ms: int) -> None:
        """Set the node's clock offset; pending timers move so they fire at their local time."""
        node = self._node(node_id)
        node.skew = skew_ms
        proc = node.process
        if proc is not None:
            for name, (handle, at_ms) in list(node.timers.items()):
                handle.cancel()
                self._set_timer(node, proc, name, at_ms)

    def timers(self, node_id: str) -> dict[Hashable, int]:
        """Pending timers of ``node_id``: name -> due time on its local clock."""
        return {name: at for name, (_, at) in self._node(node_id).timers.items()}

    def _set_timer(self, node: _Node, proc: Process, name: Hashable, at_ms: int) -> None:
        old = node.timers.get(name)
        if old is not None:
            old[0].cancel()
        sched = self.scheduler
        t = max(sched._now, at_ms - node.skew)
        node.timers[name] = (sched.call_at(t, self._fire, node, proc, name), at_ms)

    def _fire(self, node: _Node, proc: Process, name: Hashable) -> None:
        if node.process is not proc:  # pragma: no cover - crash cancels timers
            return
        del node.timers[name]
        now = self.scheduler._now
        trace = self.trace
        if trace.enabled:
            trace.record(now, "timer", node.node_id, "", repr(name).encode(), name)
        actions = proc.on_timer(name, now + node.skew)
        if actions:
            self._apply(node, proc, actions)

    # ------------------------------------------------------------------ actions

    def _apply(self, node: _Node, proc: Process, actions: Iterable[Action]) -> None:
        if node.process is not proc:
            return  # the process was crashed while handling this event
        net = self.network
        nid = node.node_id
        for a in actions:
            if isinstance(a, Send):
                net.send(nid, a.to, a.msg)
            elif isinstance(a, Broadcast):
                net.broadcast(nid, a.msg, node.peers)
            elif isinstance(a, SetTimer):
                self._set_timer(node, proc, a.name, a.at_ms)
            elif isinstance(a, CancelTimer):
                entry = node.timers.pop(a.name, None)
                if entry is not None:
                    entry[0].cancel()
            else:
                raise TypeError(f"{nid}: unknown action {a!r}")

    def call(self, node_id: str, fn: CallFn) -> list[Action]:
        """Run ``fn(process, local_now)`` now and apply the actions it returns.

        This is how a test talks to a node from outside (e.g. submits a transaction).
        Raises :class:`NodeDownError` if the node is crashed.
        """
        node = self._node(node_id)
        proc = node.process
        if proc is None:
            raise NodeDownError(f"node {node_id!r} is crashed")
        if node.start_handle is not None:
            node.start_handle.cancel()
            self._start(node, proc)
        self.trace.record(self.now, "call", node_id)
        actions = list(fn(proc, self.now + node.skew) or ())
        self._apply(node, proc, actions)
        return actions

    def call_at(self, t: int, node_id: str, fn: CallFn) -> Handle:
        """Schedule :meth:`call` at virtual time ``t``; skipped if the node is down then."""

        def run() -> None:
            if self.is_up(node_id):
                self.call(node_id, fn)

        return self.scheduler.call_at(t, run)

    # ------------------------------------------------------------------ running

    def run_until(self, t: int, *, max_events: int | None = None) -> int:
        """Run all events due at or before virtual time ``t``; returns events run."""
        return self.scheduler.run_until(t, max_events=max_events)

    def run_for(self, duration_ms: int, *, max_events: int | None = None) -> int:
        """Run ``duration_ms`` of virtual time; returns events run."""
        return self.scheduler.run_for(duration_ms, max_events=max_events)

    def run_until_idle(self, *, max_events: int | None = None) -> int:
        """Run until nothing is scheduled (never returns with periodic timers: bound it)."""
        return self.scheduler.run_until_idle(max_events=max_events)

    def run_while(
        self, predicate: Callable[[], bool], max_time: int, *, max_events: int | None = None
    ) -> bool:
        """See :meth:`Scheduler.run_while`: True iff it stopped because predicate turned false."""
        return self.scheduler.run_while(predicate, max_time, max_events=max_events)

    def wait_for(
        self, cond: Callable[[], bool], timeout_ms: int, *, max_events: int | None = None
    ) -> bool:
        """Run until ``cond()`` holds (True) or ``timeout_ms`` of virtual time pass (False)."""
        return self.scheduler.run_while(
            lambda: not cond(), self.now + timeout_ms, max_events=max_events
        )

    # ------------------------------------------------------------------ faults & observation

    def partition(self, groups: Iterable[Iterable[str]]) -> None:
        """See :meth:`Network.partition`."""
        self.network.partition(groups)

    def heal(self) -> None:
        """See :meth:`Network.heal`."""
        self.network.heal()

    def random(self, label: str) -> random.Random:
        """A fresh RNG derived from the cluster seed and ``label`` (for test workloads)."""
        return random.Random(link_seed(self.seed, "rng", label))

    @property
    def stats(self) -> NetStats:
        return self.network.stats

    @property
    def events(self) -> list[TraceEvent]:
        """The kept trace events (requires ``keep_events=True``)."""
        if self.trace.events is None:
            raise RuntimeError("create the Cluster with keep_events=True to keep events")
        return self.trace.events

    def trace_hash(self) -> str:
        """Digest of every event processes observed; equal for equal seeds and code."""
        return self.trace.hexdigest()
