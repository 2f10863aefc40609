"""An in-memory network with seeded, per-link fault injection.

Every message is encoded with :func:`flobc.encoding.encode` when sent and decoded with
``decode(data, receiver.message_type)`` when delivered, so simulated nodes exchange
exactly the bytes real nodes would. Randomness comes from one ``random.Random`` per
directed link, seeded from ``(seed, sender, receiver)``: a link's behaviour does not
depend on what other links did, and never on the global RNG.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from flobc.encoding import DecodeError, decode, encode
from flobc.sim.scheduler import Scheduler
from flobc.sim.stats import NetStats, TypeStats
from flobc.sim.trace import Trace

__all__ = ["DecodeErrorHook", "Interceptor", "Network", "NetworkConfig"]

#: ``(sender, receiver, msg) -> msg | None | list[msg]``: rewrite, drop or multiply a message.
Interceptor = Callable[[str, str, Any], Any]
#: ``(sender, receiver, data, error)``: called for bytes the receiver could not decode.
DecodeErrorHook = Callable[[str, str, bytes, Exception], None]
#: ``(sender, msg)``: hands a decoded message to the receiving node.
Handler = Callable[[str, Any], None]


@dataclass(frozen=True)
class NetworkConfig:
    """Link behaviour. One global config, optionally overridden per directed link.

    Delay of a message = ``latency_ms`` + a jitter sample, rounded up to whole ms:
    ``"uniform"`` draws from [0, jitter_ms], ``"exponential"`` has mean ``jitter_ms``,
    ``"normal"`` has standard deviation ``jitter_ms`` (the delay is clipped at 0). Jitter
    reorders messages unless ``fifo`` is set. With ``bandwidth`` (bytes per ms) a link
    sends one message at a time, so big messages queue behind each other.
    """

    latency_ms: float = 5.0
    jitter_ms: float = 0.0
    jitter_dist: Literal["uniform", "exponential", "normal"] = "uniform"
    drop_prob: float = 0.0
    dup_prob: float = 0.0
    bandwidth: float | None = None
    fifo: bool = False

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise ValueError("latency_ms and jitter_ms must be >= 0")
        if not (0.0 <= self.drop_prob <= 1.0 and 0.0 <= self.dup_prob <= 1.0):
            raise ValueError("drop_prob and dup_prob must lie in [0, 1]")
        if self.jitter_dist not in ("uniform", "exponential", "normal"):
            raise ValueError(f"unknown jitter_dist {self.jitter_dist!r}")
        if self.bandwidth is not None and self.bandwidth <= 0:
            raise ValueError("bandwidth must be > 0 bytes/ms (or None for unlimited)")


_CONFIG_FIELDS = frozenset(f.name for f in fields(NetworkConfig))


class _Link:
    __slots__ = ("busy_until", "cfg", "last_t", "rng")

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.cfg: NetworkConfig | None = None  # resolved lazily; None = stale
        self.busy_until = 0.0
        self.last_t = 0


def link_seed(seed: int, src: str, dst: str) -> int:
    """The RNG seed of the directed link ``src -> dst`` (stable across processes)."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{src}/{dst}".encode()).digest()[:8], "big")


class Network:
    """Delivers encoded messages between registered nodes through a :class:`Scheduler`."""

    def __init__(
        self,
        scheduler: Scheduler,
        seed: int = 0,
        config: NetworkConfig | None = None,
        *,
        trace: Trace | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.seed = seed
        self.trace = trace if trace is not None else Trace(enabled=False)
        self.stats = NetStats()
        #: Rewrites, drops or multiplies each message per receiver; see :data:`Interceptor`.
        self.interceptor: Interceptor | None = None
        #: Told about every message a receiver failed to decode (the message is dropped).
        self.on_decode_error: DecodeErrorHook | None = None
        self._config = config if config is not None else NetworkConfig()
        self._overrides: dict[tuple[str, str], NetworkConfig | dict[str, Any]] = {}
        self._links: dict[tuple[str, str], _Link] = {}
        self._endpoints: dict[str, tuple[Any, Handler, int]] = {}
        self._incarnation: dict[str, int] = {}
        self._known: dict[str, None] = {}  # insertion-ordered set of every node ever seen
        self._group: dict[str, int] | None = None
        self._cuts: set[tuple[str, str]] = set()
        self._blocking = False
        self._in_flight = 0

    # ------------------------------------------------------------------ configuration

    @property
    def config(self) -> NetworkConfig:
        """The global link config; assigning it takes effect for the next message."""
        return self._config

    @config.setter
    def config(self, cfg: NetworkConfig) -> None:
        self._config = cfg
        for link in self._links.values():
            link.cfg = None

    def configure(self, **changes: Any) -> NetworkConfig:
        """Change fields of the global config, e.g. ``net.configure(drop_prob=0.1)``."""
        self.config = replace(self._config, **changes)
        return self._config

    def set_link(
        self,
        src: str,
        dst: str,
        config: NetworkConfig | None = None,
        *,
        both: bool = False,
        **changes: Any,
    ) -> None:
        """Override the link ``src -> dst`` (and ``dst -> src`` if ``both``).

        Pass a whole ``config``, or field ``changes`` applied on top of the global config
        (they keep following later global changes to the other fields).
        """
        if (config is None) == (not changes):
            raise ValueError("pass either a NetworkConfig or field changes, not both/neither")
        bad = set(changes) - _CONFIG_FIELDS
        if bad:
            raise TypeError(f"unknown NetworkConfig fields: {sorted(bad)}")
        if changes:
            replace(self._config, **changes)  # validate now, not at the next send
        for key in ((src, dst), (dst, src)) if both else ((src, dst),):
            self._overrides[key] = config if config is not None else dict(changes)
            if key in self._links:
                self._links[key].cfg = None

    def clear_link(self, src: str, dst: str, *, both: bool = False) -> None:
        """Remove the override of ``src -> dst`` (and the reverse if ``both``)."""
        for key in ((src, dst), (dst, src)) if both else ((src, dst),):
            self._overrides.pop(key, None)
            if key in self._links:
                self._links[key].cfg = None

    def link_config(self, src: str, dst: str) -> NetworkConfig:
        """The effective config of the directed link ``src -> dst``."""
        ov = self._overrides.get((src, dst))
        if ov is None:
            return self._config
        return ov if isinstance(ov, NetworkConfig) else replace(self._config, **ov)

    # ------------------------------------------------------------------ partitions & cuts

    def partition(self, groups: Iterable[Iterable[str]]) -> None:
        """Split the network: only nodes in the same group can talk.

        Nodes named in no group form one more group together, so ``partition([{"a"}])``
        isolates ``a``. Replaces any earlier partition; messages in flight across the
        new boundaries are dropped on arrival.
        """
        group: dict[str, int] = {}
        for i, g in enumerate(groups):
            for node in g:
                if node in group:
                    raise ValueError(f"{node!r} is in more than one group")
                group[node] = i
        self._group = group
        self._update_blocking()

    def cut(self, src: str, dst: str) -> None:
        """Cut the one-way link ``src -> dst`` (``dst -> src`` still works)."""
        self._cuts.add((src, dst))
        self._update_blocking()

    def restore(self, src: str, dst: str) -> None:
        """Undo :meth:`cut` of ``src -> dst``."""
        self._cuts.discard((src, dst))
        self._update_blocking()

    def heal(self) -> None:
        """Remove the partition and every one-way cut."""
        self._group = None
        self._cuts.clear()
        self._update_blocking()

    def blocked(self, src: str, dst: str) -> str | None:
        """Why ``src -> dst`` cannot deliver now (``"partition"``/``"cut"``), or ``None``."""
        if not self._blocking:
            return None
        g = self._group
        if g is not None and g.get(src, -1) != g.get(dst, -1):
            return "partition"
        if (src, dst) in self._cuts:
            return "cut"
        return None

    def _update_blocking(self) -> None:
        self._blocking = self._group is not None or bool(self._cuts)

    # ------------------------------------------------------------------ endpoints

    def register(self, node_id: str, message_type: Any, handler: Handler) -> None:
        """Attach a node; messages still in flight to an earlier incarnation are dropped."""
        inc = self._incarnation.get(node_id, 0) + 1
        self._incarnation[node_id] = inc
        self._endpoints[node_id] = (message_type, handler, inc)
        self._known[node_id] = None

    def unregister(self, node_id: str) -> None:
        """Detach a node (a crash): messages to it are dropped until it registers again."""
        self._endpoints.pop(node_id, None)

    @property
    def nodes(self) -> list[str]:
        """Every node ever registered, in registration order (crashed ones included)."""
        return list(self._known)

    def is_up(self, node_id: str) -> bool:
        return node_id in self._endpoints

    @property
    def in_flight(self) -> int:
        """Messages scheduled for delivery that have not arrived (or been dropped) yet."""
        return self._in_flight

    # ------------------------------------------------------------------ sending

    def send(self, sender: str, receiver: str, msg: Any) -> None:
        """Send ``msg`` from ``sender`` to ``receiver`` (through the interceptor)."""
        self._send_one(sender, receiver, msg, None)

    def broadcast(self, sender: str, msg: Any, receivers: Iterable[str] | None = None) -> None:
        """Send ``msg`` to each of ``receivers`` (default: every known node but ``sender``).

        The message is encoded once and the bytes shared unless the interceptor changes it.
        """
        if receivers is None:
            receivers = [n for n in self._known if n != sender]
        data = encode(msg)
        for receiver in receivers:
            self._send_one(sender, receiver, msg, data)

    def send_bytes(self, sender: str, receiver: str, data: bytes, type_name: str = "raw") -> None:
        """Put raw bytes on the wire (no interceptor): e.g. to test malformed input."""
        self._transmit(sender, receiver, type_name, data)

    def _send_one(self, sender: str, receiver: str, msg: Any, data: bytes | None) -> None:
        icpt = self.interceptor
        if icpt is not None:
            out = icpt(sender, receiver, msg)
            if out is None or (isinstance(out, list) and not out):
                self.stats.drop_reasons["filtered"] += 1
                return
            if isinstance(out, list):
                for m in out:
                    enc = data if m is msg and data is not None else encode(m)
                    self._transmit(sender, receiver, type(m).__name__, enc)
                return
            if out is not msg:
                msg, data = out, None
        self._transmit(sender, receiver, type(msg).__name__, data or encode(msg))

    def _transmit(self, sender: str, receiver: str, type_name: str, data: bytes) -> None:
        stats = self.stats
        st = stats.by_type.get(type_name) or stats.of(type_name)
        n = len(data)
        st.sent += 1
        st.bytes_sent += n
        ep = self._endpoints.get(receiver)
        if ep is None:
            self._drop(st, n, "down" if receiver in self._known else "unknown")
            return
        if self._blocking:
            reason = self.blocked(sender, receiver)
            if reason is not None:
                self._drop(st, n, reason)
                return
        key = (sender, receiver)
        link = self._links.get(key)
        if link is None:
            link = self._links[key] = _Link(random.Random(link_seed(self.seed, sender, receiver)))
        cfg = link.cfg
        if cfg is None:
            cfg = link.cfg = self.link_config(sender, receiver)
        rng = link.rng
        if cfg.drop_prob and rng.random() < cfg.drop_prob:
            self._drop(st, n, "loss")
            return
        args = (sender, receiver, ep[2], data, st)
        sched = self.scheduler
        sched._push(self._arrival(link, cfg, n, True), self._deliver, args)
        self._in_flight += 1
        if cfg.dup_prob and rng.random() < cfg.dup_prob:
            st.duplicated += 1
            sched._push(self._arrival(link, cfg, n, False), self._deliver, args)
            self._in_flight += 1

    def _arrival(self, link: _Link, cfg: NetworkConfig, n: int, uses_bandwidth: bool) -> int:
        now = self.scheduler.now
        delay = cfg.latency_ms
        j = cfg.jitter_ms
        if j:
            dist = cfg.jitter_dist
            if dist == "uniform":
                delay += link.rng.random() * j
            elif dist == "exponential":
                delay += link.rng.expovariate(1.0 / j)
            else:
                delay = max(0.0, delay + link.rng.gauss(0.0, j))
        base: float = now
        if cfg.bandwidth is not None:
            start = max(base, link.busy_until)
            done = start + n / cfg.bandwidth
            if uses_bandwidth:
                link.busy_until = done
            base = done
        t = max(now, math.ceil(base + delay))
        if cfg.fifo:
            if t < link.last_t:
                t = link.last_t
            link.last_t = t
        return t

    def _drop(self, st: TypeStats, n: int, reason: str) -> None:
        st.dropped += 1
        st.bytes_dropped += n
        self.stats.drop_reasons[reason] += 1

    def _deliver(self, sender: str, receiver: str, inc: int, data: bytes, st: TypeStats) -> None:
        self._in_flight -= 1
        n = len(data)
        if self._blocking:
            reason = self.blocked(sender, receiver)
            if reason is not None:
                self._drop(st, n, reason)
                return
        ep = self._endpoints.get(receiver)
        if ep is None or ep[2] != inc:
            self._drop(st, n, "down")
            return
        try:
            msg = decode(data, ep[0])
        except DecodeError as exc:
            self._drop(st, n, "decode")
            hook = self.on_decode_error
            if hook is not None:
                hook(sender, receiver, data, exc)
            return
        st.delivered += 1
        st.bytes_delivered += n
        trace = self.trace
        if trace.enabled:
            trace.record(self.scheduler.now, "deliver", receiver, sender, data, msg)
        ep[1](sender, msg)
