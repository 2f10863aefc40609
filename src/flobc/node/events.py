"""Server-sent events from a validator: one event per committed block and per new version.

:class:`EventHub` listens to the node's commits (on the event-loop thread, where the
runtime drives the process) and fans each event out to subscribers without ever waiting
on them: each subscriber has a bounded buffer; one that falls behind gets a ``resync``
event instead of the backlog. :func:`stream_events` serves ``GET /v1/events`` as
``text/event-stream`` and unsubscribes when the client goes away or the node stops.

Events (``data`` is JSON):

* ``hello`` — on connect: ``{"height", "version"}``
* ``block`` — ``{"height", "time_ms", "txs", "version", "round"}`` per committed block
* ``version`` — ``{"version", "round", "height", "accepted", "rejected", "reason"}`` per
  released model version (FL networks)
* ``resync`` — the client missed events and should re-fetch everything

:class:`VersionWaiter` is the other end, for trainers: it holds one stream open and wakes
its owner on each new version (push), instead of the owner polling ``/v1/models/latest``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from collections import deque
from typing import Any

import aiohttp
from aiohttp import web

from flobc.app.abci import BlockResult
from flobc.chain.types import Block
from flobc.node.hosting import EventFeed
from flobc.node.http_errors import ApiError
from flobc.node.http_runtime import HttpRuntime
from flobc.node.tasks import cancel_and_wait
from flobc.node.validator import ValidatorNode

log = logging.getLogger("flobc.events")

#: Events buffered per subscriber before it is told to resync instead.
MAX_BUFFERED = 256
#: Concurrent event streams one validator serves.
MAX_SUBSCRIBERS = 64
#: Seconds between keep-alive comments on an idle stream (also detects gone clients).
KEEPALIVE_S = 15.0
#: Seconds between checks that the node is still running.
POLL_S = 0.5


def format_event(kind: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    """One SSE frame: ``event:``, optional ``id:``, one ``data:`` line of JSON."""
    head = f"event: {kind}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return (head + f"data: {json.dumps(data, separators=(',', ':'))}\n\n").encode()


class Subscriber:
    """One client's buffer of encoded frames; never blocks the producer."""

    def __init__(self, max_buffered: int = MAX_BUFFERED) -> None:
        self.frames: deque[bytes] = deque()
        self.max_buffered = max_buffered
        self.overflowed = False
        self.wake = asyncio.Event()

    def push(self, frame: bytes) -> None:
        if len(self.frames) >= self.max_buffered:
            self.frames.clear()
            self.overflowed = True
        else:
            self.frames.append(frame)
        self.wake.set()

    def drain(self) -> list[bytes]:
        """Frames to write now (a ``resync`` alone after an overflow)."""
        self.wake.clear()
        if self.overflowed:
            self.overflowed = False
            self.frames.clear()
            return [format_event("resync", {})]
        out = list(self.frames)
        self.frames.clear()
        return out


class EventHub:
    """Commit events of one validator, fanned out to its SSE subscribers."""

    def __init__(self, node: ValidatorNode, feed: EventFeed | None = None) -> None:
        self.node = node
        #: the hosted application's events and ``hello``/``block`` fields
        self.feed = feed or EventFeed()
        self.subscribers: set[Subscriber] = set()
        self.metric: dict[str, Any] | None = None
        #: cached ``/v1/network`` peer view: (loop time, document)
        self.network_cache: tuple[float, list[dict[str, Any]]] | None = None
        self.network_lock = asyncio.Lock()
        node.commit_listeners.append(self.on_commit)

    def head(self) -> dict[str, Any]:
        """The application's fields of ``hello`` and ``block`` events."""
        return self.feed.head(self.node.app)

    def on_commit(self, block: Block, result: BlockResult, now_ms: int) -> list[Any]:
        """Commit listener: publish ``block`` and the application's new events."""
        try:
            self._publish_commit(block)
        except Exception:  # never let the dashboard break a commit
            log.exception("event hub failed on block %d", block.height)
        return []

    def _publish_commit(self, block: Block) -> None:
        app_events = self.feed.new_events(self.node.app)  # advanced even with no subscriber
        if not self.subscribers:
            return
        doc = {"height": block.height, "time_ms": block.header.time_ms, "txs": len(block.txs)}
        frames = [format_event("block", {**doc, **self.head()}, block.height)]
        frames += [format_event(kind, data, block.height) for kind, data in app_events]
        for sub in self.subscribers:
            for frame in frames:
                sub.push(frame)

    def subscribe(self) -> Subscriber:
        if len(self.subscribers) >= MAX_SUBSCRIBERS:
            raise ApiError(503, "too many event streams on this node")
        sub = Subscriber()
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)


_hubs: weakref.WeakKeyDictionary[HttpRuntime[Any], EventHub] = weakref.WeakKeyDictionary()


def hub_for(runtime: HttpRuntime[ValidatorNode]) -> EventHub:
    """The runtime's hub, created (and hooked to commits) on first use."""
    hub = _hubs.get(runtime)
    if hub is None:
        hub = _hubs[runtime] = EventHub(runtime.process)
    return hub


async def stream_events(
    request: web.Request, runtime: HttpRuntime[ValidatorNode]
) -> web.StreamResponse:
    """Serve ``GET /v1/events`` until the client disconnects or the node stops."""
    hub = hub_for(runtime)
    sub = hub.subscribe()
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await resp.prepare(request)
        hello = {"height": hub.node.store.height(), **hub.head()}
        await resp.write(b"retry: 2000\n\n" + format_event("hello", hello))
        idle, poll_s = 0.0, POLL_S
        while runtime.running:
            try:
                await asyncio.wait_for(sub.wake.wait(), poll_s)
            except TimeoutError:
                idle += poll_s
                if idle >= KEEPALIVE_S:
                    idle = 0.0
                    await resp.write(b": keep-alive\n\n")
                continue
            idle = 0.0
            frames = sub.drain()
            if frames:
                await resp.write(b"".join(frames))
        with contextlib.suppress(ConnectionError):
            await resp.write_eof()
        return resp
    except ConnectionError:  # the client went away
        return resp
    finally:
        hub.unsubscribe(sub)


class VersionWaiter:
    """Wakes a trainer when a validator announces a new version over ``GET /v1/events``.

    One stream is held open (validators tried in ``urls`` order, again after a drop). A
    ``version`` (or ``hello``/``resync``) event wakes at once; ``block`` events wake at most
    once per ``block_gap_s`` (round state such as an SSP extension changes with blocks).
    A wake that arrives while the owner is busy is kept, so none is lost. Without a stream
    :meth:`wait` falls back to its timeout, i.e. to polling.
    """

    def __init__(
        self, session: aiohttp.ClientSession, urls: list[str], block_gap_s: float = 0.2
    ) -> None:
        self.session = session
        self.urls = [u.rstrip("/") for u in urls]
        self.block_gap_s = block_gap_s
        self.connected = False
        self.wakes = 0
        self._wake = asyncio.Event()
        self._last_block_wake = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def wait(self, fallback_s: float) -> bool:
        """Until the next wake (or one already pending), at most ``fallback_s`` seconds;
        True when woken by the stream."""
        try:
            await asyncio.wait_for(self._wake.wait(), fallback_s)
        except TimeoutError:
            return False
        self._wake.clear()
        return True

    def on_event(self, kind: str) -> None:
        """Feed one received event kind (the stream's parser calls this)."""
        now = time.monotonic()
        if kind == "block":
            if now - self._last_block_wake < self.block_gap_s:
                return
            self._last_block_wake = now
        elif kind not in ("version", "hello", "resync"):
            return
        self.wakes += 1
        self._wake.set()

    async def _run(self) -> None:
        k = 0
        while not self.session.closed:  # the owner's session closing ends the stream
            url = self.urls[k % len(self.urls)] + "/v1/events"
            k += 1
            try:
                timeout = aiohttp.ClientTimeout(total=None, sock_read=3 * KEEPALIVE_S)
                async with self.session.get(url, timeout=timeout) as resp:
                    if resp.status != 200:
                        raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
                    self.connected = True
                    async for line in resp.content:
                        if line.startswith(b"event:"):
                            self.on_event(line[6:].strip().decode())
            except (aiohttp.ClientError, TimeoutError, ConnectionError, RuntimeError) as exc:
                log.debug("event stream %s: %r", url, exc)
            self.connected = False
            self._wake.set()  # the owner re-reads state after a gap in the stream
            await asyncio.sleep(0.5)
