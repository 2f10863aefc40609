"""Outbound delivery to one peer: a bounded queue drained by one sender task over a
persistent websocket stream.

Wire format: ``GET {base_url}/v1/p2p/stream`` upgraded to a websocket, with header
``X-Flobc-Sender: <node id>``. Each binary frame from the sender is one batch: a
MessagePack array of ``bin`` items, each one message encoded with
:func:`flobc.encoding.encode`. The receiver acknowledges the batches it has handled, in
order, with binary frames carrying how many they cover (4 bytes, big-endian; an empty
frame, as older peers send, counts one): the batches handled in one pass of its event loop
share one acknowledgement. ``POST {base_url}/v1/p2p/messages`` with the same body is still
served, for tools and older peers.

Latency first: an idle link sends a message as soon as it is queued, without waiting for
the acknowledgements of earlier batches (up to ``max_unacked`` batches in flight); what is
queued meanwhile goes out as one batch. Messages to one peer are delivered in order, at
least once: when the stream breaks, the unacknowledged batches go back to the front of the
queue and are sent again on the next stream (consensus messages are idempotent). When the
peer is unreachable the queue is kept (bounded: the oldest messages are dropped and
counted) and the connection retried with capped exponential backoff, without affecting any
other link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

import aiohttp

from flobc.encoding import MAX_MESSAGE_BYTES, decode, encode
from flobc.node.tasks import cancel_and_wait

logger = logging.getLogger("flobc.http")

P2P_PATH = "/v1/p2p/messages"
STREAM_PATH = "/v1/p2p/stream"
SENDER_HEADER = "X-Flobc-Sender"
CONTENT_TYPE = "application/msgpack"
#: Worst-case MessagePack overhead of an array header / a ``bin`` header.
_HEADER_BYTES = 5


def encode_batch(raws: list[bytes]) -> bytes:
    """Encode already-encoded messages as one request body."""
    return encode(raws)


def ack_frame(count: int) -> bytes:
    """The acknowledgement of ``count`` batches."""
    return count.to_bytes(4, "big")


def ack_count(data: bytes) -> int:
    """How many batches an acknowledgement frame covers (an empty one: one)."""
    return int.from_bytes(data, "big") if data else 1


def decode_batch(body: bytes, max_bytes: int = MAX_MESSAGE_BYTES) -> list[bytes]:
    """Split a request body into encoded messages; raises ``DecodeError`` if malformed."""
    return decode(body, list[bytes], max_bytes=max_bytes)


class _PermanentFailure(Exception):
    """The peer refused the stream (4xx) or a batch: retrying the same bytes cannot succeed."""


@dataclass
class LinkStats:
    """Counters of one link (monotonic except ``queued``)."""

    messages_sent: int = 0  # acknowledged by the peer
    requests_sent: int = 0  # batches (frames) sent, including ones sent again
    dropped: int = 0
    rejected: int = 0
    failures: int = 0  # failed connection attempts and broken streams
    queued: int = 0  # not yet acknowledged: waiting or in flight
    bytes_sent: int = 0  # bodies of acknowledged batches
    connects: int = 0  # streams opened


class PeerLink:
    """Delivers encoded messages to one peer; create and use it on the event loop."""

    def __init__(
        self,
        own_id: str,
        peer_id: str,
        base_url: str,
        *,
        max_queue: int = 10_000,
        max_batch_bytes: int = MAX_MESSAGE_BYTES,
        max_batch_messages: int = 4096,
        max_unacked: int = 32,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
        request_timeout_s: float = 10.0,
        connect_timeout_s: float = 2.0,
    ) -> None:
        if max_queue < 1 or max_batch_messages < 1 or max_unacked < 1:
            raise ValueError("max_queue, max_batch_messages and max_unacked must be positive")
        self.own_id = own_id
        self.peer_id = peer_id
        self.url = base_url.rstrip("/") + STREAM_PATH
        self.max_queue = max_queue
        self.max_batch_bytes = max_batch_bytes
        self.max_batch_messages = max_batch_messages
        self.max_unacked = max_unacked
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._heartbeat_s = request_timeout_s
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=request_timeout_s, sock_connect=connect_timeout_s
        )
        self._queue: deque[bytes] = deque()
        self._unacked: deque[tuple[list[bytes], int]] = deque()  # (batch, body size)
        self._wakeup = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stats = LinkStats()
        self._up = True  # assume reachable until a connection fails (only affects logging)

    @property
    def stats(self) -> LinkStats:
        """A snapshot of the counters."""
        s = self._stats
        in_flight = sum(len(b) for b, _ in self._unacked)
        return LinkStats(
            s.messages_sent,
            s.requests_sent,
            s.dropped,
            s.rejected,
            s.failures,
            len(self._queue) + in_flight,
            s.bytes_sent,
            s.connects,
        )

    def start(self) -> None:
        """Open the HTTP session and start the sender task (call on the running loop)."""
        if self._task is not None:
            return
        connector = aiohttp.TCPConnector(limit=2, enable_cleanup_closed=False)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, headers={SENDER_HEADER: self.own_id}
        )
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"flobc-link-{self.peer_id[:12]}"
        )

    async def close(self) -> None:
        """Stop the sender task, close the stream and session; queued messages are discarded."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        reader, self._reader = self._reader, None
        await cancel_and_wait(reader)
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        self._queue.clear()
        self._unacked.clear()

    def enqueue(self, raw: bytes) -> None:
        """Queue one encoded message; never blocks. Drops the oldest message when full."""
        if len(raw) + 2 * _HEADER_BYTES > self.max_batch_bytes:
            self._stats.dropped += 1
            logger.warning(
                "dropping %d-byte message to %s: larger than a request may be",
                len(raw),
                self.peer_id,
            )
            return
        if len(self._queue) >= self.max_queue:
            self._queue.popleft()
            self._note_drop(1)
        self._queue.append(raw)
        self._wakeup.set()

    def _note_drop(self, n: int) -> None:
        before = self._stats.dropped
        self._stats.dropped += n
        if before == 0 or before.bit_length() != self._stats.dropped.bit_length():
            logger.warning(
                "queue to %s full: %d messages dropped so far", self.peer_id, self._stats.dropped
            )

    def _take_batch(self) -> list[bytes]:
        batch: list[bytes] = []
        size = _HEADER_BYTES
        q = self._queue
        while q and len(batch) < self.max_batch_messages:
            item_size = len(q[0]) + _HEADER_BYTES
            if batch and size + item_size > self.max_batch_bytes:
                break
            batch.append(q.popleft())
            size += item_size
        return batch

    def _requeue(self, batch: list[bytes]) -> None:
        """Put a batch back at the front; drop its oldest items if there is no room."""
        dropped = 0
        for raw in reversed(batch):
            if len(self._queue) >= self.max_queue:
                dropped += 1
            else:
                self._queue.appendleft(raw)
        if dropped:
            self._note_drop(dropped)

    async def _run(self) -> None:
        backoff = self.backoff_initial_s
        while True:
            if not self._queue or len(self._unacked) >= self.max_unacked:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._ws is None:
                if not await self._connect():
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.backoff_max_s)
                    continue
                backoff = self.backoff_initial_s
            await self._send_batch()

    async def _connect(self) -> bool:
        """Open the stream; False if the peer could not be reached (or refused it)."""
        assert self._session is not None
        try:
            ws = await self._session.ws_connect(
                self.url,
                max_msg_size=0,
                heartbeat=self._heartbeat_s,
                autoping=True,
            )
        except aiohttp.WSServerHandshakeError as exc:
            self._stats.failures += 1
            if 400 <= exc.status < 500:  # refused: what is queued can never be delivered
                n = len(self._queue)
                self._queue.clear()
                self._stats.rejected += n
                logger.warning(
                    "%s refused the stream (%d): %d messages dropped", self.peer_id, exc.status, n
                )
            else:
                self._note_down(exc)
            return False
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._stats.failures += 1
            self._note_down(exc)
            return False
        self._ws = ws
        self._stats.connects += 1
        self._reader = asyncio.get_running_loop().create_task(self._read(ws))
        if not self._up:
            logger.info("peer %s reachable again", self.peer_id)
            self._up = True
        return True

    def _note_down(self, exc: BaseException) -> None:
        if self._up:
            logger.warning("peer %s unreachable (%r); retrying", self.peer_id, exc)
            self._up = False
        else:
            logger.debug("peer %s still unreachable: %r", self.peer_id, exc)

    async def _send_batch(self) -> None:
        ws = self._ws
        assert ws is not None
        batch = self._take_batch()
        body = encode_batch(batch)
        self._unacked.append((batch, len(body)))
        self._stats.requests_sent += 1
        try:
            await ws.send_bytes(body)
        except (aiohttp.ClientError, ConnectionError, OSError, RuntimeError) as exc:
            logger.debug("stream to %s broke while sending: %r", self.peer_id, exc)
            self._broken(ws)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Count acknowledgements; when the stream ends, resend what was not acknowledged."""
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY:
                    continue
                for _ in range(min(ack_count(msg.data), len(self._unacked))):
                    batch, size = self._unacked.popleft()
                    self._stats.messages_sent += len(batch)
                    self._stats.bytes_sent += size
                self._wakeup.set()
        except (aiohttp.ClientError, ConnectionError, OSError) as exc:
            logger.debug("stream to %s broke: %r", self.peer_id, exc)
        if ws.close_code == aiohttp.WSCloseCode.UNSUPPORTED_DATA and self._unacked:
            batch, _ = self._unacked.popleft()  # the peer could not decode it: never resend
            self._stats.rejected += len(batch)
            logger.warning("%s rejected %d messages", self.peer_id, len(batch))
        self._broken(ws)

    def _broken(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """The stream ``ws`` is gone: unacknowledged batches go back to the queue's front."""
        if self._ws is not ws:
            return
        self._ws = None
        self._stats.failures += 1
        while self._unacked:
            self._requeue(self._unacked.pop()[0])
        if not ws.closed:
            asyncio.get_running_loop().create_task(ws.close())
        self._wakeup.set()
