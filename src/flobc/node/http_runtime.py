"""Drive a sans-I/O :class:`~flobc.node.process.Process` over real HTTP with a wall clock.

Every call into the process happens on the event-loop thread, one at a time: incoming peer
messages, timers, and :meth:`HttpRuntime.call` (for API handlers). ``now_ms`` is the wall
clock (``time.time()``) in milliseconds, kept non-decreasing, and never below a timer's
``at_ms`` when that timer fires. Outbound messages go through one :class:`PeerLink` per peer.

fsync stays off the loop: with a ``durability`` log (the consensus write-ahead log and the
blob store, as a :class:`~flobc.node.sync_group.SyncGroup`) the process's ``sync=True``
appends and blob puts only write, a dedicated writer thread fsyncs, and every outbound
message produced after such a write is held, in order, until the fsync that covers it
returns. So a signed vote never leaves before it (and the blobs of the block it votes
for) is durable, while the loop keeps handling peers' messages during the fsync. An API
handler that must not answer before then (a client's upload) awaits :meth:`durable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from flobc.encoding import MAX_MESSAGE_BYTES, DecodeError, decode, encode
from flobc.node.errors import FatalNodeError
from flobc.node.http_errors import (
    ApiError,
    body_limit_middleware,
    error_middleware,
    json_error,
    read_body,
)
from flobc.node.peer_link import (
    P2P_PATH,
    SENDER_HEADER,
    STREAM_PATH,
    LinkStats,
    PeerLink,
    decode_batch,
)
from flobc.node.process import Action, Broadcast, CancelTimer, Process, Send, SetTimer
from flobc.node.stream_acks import StreamAcks
from flobc.node.sync_group import DeferredSyncLog
from flobc.node.tasks import cancel_and_wait

logger = logging.getLogger("flobc.http")

P = TypeVar("P", bound=Process)
R = TypeVar("R")
T = TypeVar("T")

#: Exit status after a :class:`FatalNodeError`.
FATAL_EXIT_CODE = 3


class HttpRuntime(Generic[P]):
    """Serve one process on ``host:port`` and connect it to ``peers`` (node id -> base URL)."""

    def __init__(
        self,
        process: P,
        peers: Mapping[str, str],
        host: str,
        port: int,
        *,
        extra_routes: Iterable[web.AbstractRouteDef] | None = None,
        max_body: int = MAX_MESSAGE_BYTES,
        max_queue: int = 10_000,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
        request_timeout_s: float = 10.0,
        workers: int = 2,
        shutdown_timeout_s: float = 2.0,
        durability: DeferredSyncLog | None = None,
    ) -> None:
        self.process = process
        self.peers = {pid: url for pid, url in peers.items() if pid != process.node_id}
        self.host = host
        self.port = port
        self.max_body = max_body
        self._extra_routes = list(extra_routes or [])
        #: Coroutine functions run as tasks while the runtime serves (e.g. ML workers).
        self.background: list[Callable[[HttpRuntime[P]], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        #: Outermost middlewares (e.g. metrics), added before :meth:`start`.
        self.middlewares: list[Middleware] = []
        self._link_opts: dict[str, Any] = dict(
            max_queue=max_queue,
            max_batch_bytes=max_body,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
            request_timeout_s=request_timeout_s,
        )
        self._workers = workers
        self._shutdown_timeout_s = shutdown_timeout_s
        self.links: dict[str, PeerLink] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._last_now_ms = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._running = False
        self._stop_requested: asyncio.Event | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self.exit_code = 0
        self.fatal_error: BaseException | None = None
        self._durability = durability
        #: outbound actions waiting for an fsync: (record it needs durable, actions), FIFO
        self._held: list[tuple[int, list[Action]]] = []
        self._syncing = 0  # the record the writer thread is syncing through; 0 when idle
        #: handlers waiting for a record to be durable: (record, future), FIFO
        self._durable_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._writer: ThreadPoolExecutor | None = None
        self._streams: set[web.WebSocketResponse] = set()
        #: bytes of peer batches received over persistent streams
        self.stream_bytes_received = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL the server listens on (the bound port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """True between a successful :meth:`start` and the beginning of shutdown."""
        return self._running

    async def start(self) -> None:
        """Bind the server, open peer links, then call ``process.start`` (errors propagate)."""
        if self._loop is not None:
            raise RuntimeError("HttpRuntime can only be started once")
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        app = web.Application(
            client_max_size=self.max_body,
            middlewares=[
                *self.middlewares,
                error_middleware,
                body_limit_middleware(self.max_body),
                self._fatal_middleware,
            ],
        )
        app.router.add_post(P2P_PATH, self._handle_p2p)
        app.router.add_get(STREAM_PATH, self._handle_stream)
        app.router.add_routes(self._extra_routes)
        app[RUNTIME_KEY] = self
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=self._shutdown_timeout_s
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._bound_port(self._runner, self.port)
        for pid, url in self.peers.items():
            link = PeerLink(self.process.node_id, pid, url, **self._link_opts)
            link.start()
            self.links[pid] = link
        self._running = True
        if self._durability is not None:
            self._durability.defer_syncs()
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="flobc-fsync")
        logger.info(
            "node %s listening on %s with %d peers", self.process.node_id, self.url, len(self.peers)
        )
        try:
            actions = self.process.start(self._now_ms())
        except BaseException:
            await self.stop()
            raise
        self._apply(actions)
        self._tasks = [self._loop.create_task(self._guarded(fn)) for fn in self.background]

    async def _guarded(self, fn: Callable[[HttpRuntime[P]], Awaitable[None]]) -> None:
        """Run a background task; a crash in it is logged, a fatal error stops the node."""
        try:
            await fn(self)
        except asyncio.CancelledError:
            raise
        except FatalNodeError as exc:
            self._fatal(exc)
        except Exception:
            logger.exception("background task %s failed", getattr(fn, "__name__", fn))

    @staticmethod
    def _bound_port(runner: web.AppRunner, default: int) -> int:
        for addr in runner.addresses:
            if isinstance(addr, tuple) and len(addr) >= 2:
                return int(addr[1])
        return default

    def request_stop(self) -> None:
        """Ask :meth:`run_forever` to stop (safe from a signal handler on the loop)."""
        if self._stop_requested is not None:
            self._stop_requested.set()

    async def stop(self) -> None:
        """Stop serving, cancel timers, close links and the worker pool. Idempotent."""
        if self._stop_task is None:
            self._stop_task = asyncio.get_running_loop().create_task(self._shutdown())
        await asyncio.shield(self._stop_task)

    async def _shutdown(self) -> None:
        self._running = False
        self.request_stop()
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(*tasks)
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for ws in list(self._streams):
            with contextlib.suppress(Exception):
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()
        await asyncio.gather(*(link.close() for link in self.links.values()))
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        if self._durability is not None and self._durability.sync_owed():
            with contextlib.suppress(OSError, ValueError):
                self._durability.sync_through(self._durability.sync_owed())
        for _, fut in self._durable_waiters:  # their writes may not be durable: no answer
            if not fut.done():
                fut.set_exception(ApiError(503, "node stopped before the write was durable"))
        self._durable_waiters.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        logger.info("node %s stopped (exit code %d)", self.process.node_id, self.exit_code)

    async def run_forever(self) -> int:
        """Start if needed, serve until stopped or a fatal error; return the exit status."""
        if self._loop is None:
            await self.start()
        assert self._stop_requested is not None
        await self._stop_requested.wait()
        await self.stop()
        return self.exit_code

    def _fatal(self, exc: BaseException) -> None:
        if self.fatal_error is not None:
            return
        self.fatal_error = exc
        self.exit_code = FATAL_EXIT_CODE
        self._running = False
        logger.critical("FATAL: node %s stopping: %s", self.process.node_id, exc, exc_info=exc)
        if self._stop_task is None and self._loop is not None:
            self._stop_task = self._loop.create_task(self._shutdown())

    # ------------------------------------------------------------------ process driving

    def _now_ms(self) -> int:
        now = max(int(time.time() * 1000), self._last_now_ms)
        self._last_now_ms = now
        return now

    def _dispatch(self, what: str, fn: Callable[[int], list[Action]], now_ms: int) -> None:
        """Run one process event; log its errors, stop on :class:`FatalNodeError`."""
        if not self._running:
            return
        try:
            actions = fn(now_ms)
        except FatalNodeError as exc:
            self._fatal(exc)
            return
        except Exception:
            logger.exception("node %s: process raised in %s", self.process.node_id, what)
            return
        self._apply(actions)

    def _apply(self, actions: Iterable[Action] | None) -> None:
        """Timers act at once; messages wait behind any fsync they (or earlier ones) need."""
        actions = list(actions or ())
        if self._durability is None:
            self._perform(actions)
            return
        owed = self._durability.sync_owed()
        if not owed and not self._held:
            self._perform(actions)
            return
        net = [a for a in actions if isinstance(a, (Broadcast, Send))]
        self._perform([a for a in actions if not isinstance(a, (Broadcast, Send))])
        if net:
            need = max(owed, self._held[-1][0] if self._held else 0)
            self._held.append((need, net))
        self._start_sync()

    def _start_sync(self) -> None:
        """Hand the next owed fsync to the writer thread (one at a time)."""
        assert self._durability is not None and self._loop is not None
        owed = self._durability.sync_owed()
        if self._syncing or self._writer is None:
            return
        if not owed:
            self._release(float("inf"))
            return
        self._syncing = owed
        fut = self._loop.run_in_executor(self._writer, self._durability.sync_through, owed)
        fut.add_done_callback(self._synced)

    def _synced(self, fut: asyncio.Future[None]) -> None:
        done, self._syncing = self._syncing, 0
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            self._fatal(FatalNodeError(f"fsync failed (write-ahead log or blobs): {exc}"))
            return
        self._release(done)
        if self._running:
            self._start_sync()

    def _release(self, durable: float) -> None:
        """Send the held messages whose records are now durable, oldest first, and wake
        the handlers waiting for them."""
        while self._held and self._held[0][0] <= durable:
            self._perform(self._held.pop(0)[1])
        while self._durable_waiters and self._durable_waiters[0][0] <= durable:
            fut = self._durable_waiters.pop(0)[1]
            if not fut.done():
                fut.set_result(None)

    async def durable(self) -> None:
        """Return once everything written so far (log records, blobs) is durable; at once
        without a deferred-sync log. Raises :class:`ApiError` 503 if the node stops first."""
        if self._durability is None:
            return
        owed = self._durability.sync_owed()
        if not owed:
            return
        if not self._running or self._loop is None:
            raise ApiError(503, "node is stopping")
        fut = self._loop.create_future()
        self._durable_waiters.append((owed, fut))
        self._start_sync()
        await fut

    def _perform(self, actions: Iterable[Action]) -> None:
        for action in actions:
            try:
                if isinstance(action, Broadcast):
                    raw = encode(action.msg)
                    for link in self.links.values():
                        link.enqueue(raw)
                elif isinstance(action, Send):
                    link = self.links.get(action.to)
                    if link is None:
                        logger.warning("send to unknown peer %r dropped", action.to)
                    else:
                        link.enqueue(encode(action.msg))
                elif isinstance(action, SetTimer):
                    self._set_timer(action.name, action.at_ms)
                elif isinstance(action, CancelTimer):
                    handle = self._timers.pop(action.name, None)
                    if handle is not None:
                        handle.cancel()
                else:
                    logger.error("unknown action %r ignored", action)
            except Exception:
                logger.exception("failed to apply action %r", action)

    def _set_timer(self, name: Hashable, at_ms: int) -> None:
        assert self._loop is not None
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        if not self._running:
            return
        delay_s = max(0.0, (at_ms - time.time() * 1000) / 1000)
        self._timers[name] = self._loop.call_at(
            self._loop.time() + delay_s, self._fire_timer, name, at_ms
        )

    def _fire_timer(self, name: Hashable, at_ms: int) -> None:
        self._timers.pop(name, None)
        now = max(self._now_ms(), at_ms)
        self._last_now_ms = now
        self._dispatch(f"timer {name!r}", lambda t: self.process.on_timer(name, t), now)

    async def call(self, fn: Callable[[P, int], tuple[R, Iterable[Action]]]) -> R:
        """Run ``fn(process, now_ms)`` on the loop, apply its actions, return its result.

        Exceptions from ``fn`` propagate to the caller; a :class:`FatalNodeError` also stops
        the runtime.
        """
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("HttpRuntime.call must be awaited on the runtime's event loop")
        if not self._running:
            raise ApiError(503, "node is not running")
        try:
            result, actions = fn(self.process, self._now_ms())
        except FatalNodeError as exc:
            self._fatal(exc)
            raise
        self._apply(actions)
        return result

    async def run_in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking ``fn(*args)`` in the worker pool; it must not touch the process."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="flobc-worker")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    def link_stats(self) -> dict[str, LinkStats]:
        """Per-peer delivery counters."""
        return {pid: link.stats for pid, link in self.links.items()}

    # ------------------------------------------------------------------ HTTP

    @web.middleware
    async def _fatal_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except FatalNodeError as exc:
            self._fatal(exc)
            return json_error(503, "node stopped on a fatal error")

    def _check_sender(self, request: web.Request) -> tuple[str, web.Response | None]:
        sender = request.headers.get(SENDER_HEADER, "")
        if sender not in self.links:
            return sender, json_error(403, "unknown sender")
        if not self._running:
            return sender, json_error(503, "node is stopping")
        return sender, None

    def _deliver(self, sender: str, body: bytes) -> None:
        """Decode one batch (all or nothing) and hand its messages to the process."""
        msgs = [
            decode(raw, self.process.message_type, max_bytes=self.max_body)
            for raw in decode_batch(body, self.max_body)
        ]
        now = self._now_ms()
        for msg in msgs:
            self._dispatch(
                f"message {type(msg).__name__} from {sender}",
                functools.partial(self.process.on_message, sender, msg),
                now,
            )

    async def _handle_p2p(self, request: web.Request) -> web.Response:
        sender, refused = self._check_sender(request)
        if refused is not None:
            return refused
        body = await read_body(request, self.max_body)
        try:
            self._deliver(sender, body)
        except DecodeError as exc:
            return json_error(400, f"malformed message batch: {exc}")
        return web.Response(status=204)

    async def _handle_stream(self, request: web.Request) -> web.StreamResponse:
        """A peer's persistent stream: one batch per binary frame, acknowledged once handled
        (see :class:`~flobc.node.stream_acks.StreamAcks`); a malformed batch closes the
        stream (code 1003)."""
        sender, refused = self._check_sender(request)
        if refused is not None:
            return refused
        ws = web.WebSocketResponse(max_msg_size=self.max_body, autoping=True)
        await ws.prepare(request)
        self._streams.add(ws)
        acks = StreamAcks(ws)
        try:
            async for frame in ws:
                if frame.type != aiohttp.WSMsgType.BINARY:
                    await acks.send_owed()
                    await ws.close(code=aiohttp.WSCloseCode.UNSUPPORTED_DATA)
                    break
                self.stream_bytes_received += len(frame.data)
                try:
                    self._deliver(sender, frame.data)
                except DecodeError as exc:
                    logger.warning("malformed batch from %s: %s", sender, exc)
                    # the batches before it are acknowledged first: the peer takes the
                    # first unacknowledged batch at a 1003 close for the malformed one
                    await acks.send_owed()
                    await ws.close(code=aiohttp.WSCloseCode.UNSUPPORTED_DATA)
                    break
                acks.owe()
        finally:
            self._streams.discard(ws)
        return ws


#: ``request.app[RUNTIME_KEY]`` gives API handlers (``extra_routes``) their runtime.
RUNTIME_KEY: web.AppKey[HttpRuntime[Any]] = web.AppKey("flobc.runtime", HttpRuntime)
