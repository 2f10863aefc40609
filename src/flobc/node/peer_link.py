"""Outbound delivery to one peer: a bounded queue drained by one sender task over keep-alive HTTP.

Wire format: ``POST {base_url}/v1/p2p/messages`` with header ``X-Flobc-Sender: <node id>``
and a MessagePack body that is an array of ``bin`` items, each one message encoded with
:func:`flobc.encoding.encode`.

Latency first: an idle link sends a message as soon as it is queued; whatever is queued
while a request is in flight goes out as one batch in the next request. Messages to one
peer are delivered in order. When the peer is unreachable the batch is kept (the queue
is bounded: the oldest messages are dropped and counted) and retried with capped
exponential backoff, without affecting any other link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

import aiohttp

from flobc.encoding import MAX_MESSAGE_BYTES, decode, encode

logger = logging.getLogger("flobc.http")

P2P_PATH = "/v1/p2p/messages"
SENDER_HEADER = "X-Flobc-Sender"
CONTENT_TYPE = "application/msgpack"
#: Worst-case MessagePack overhead of an array header / a ``bin`` header.
_HEADER_BYTES = 5


def encode_batch(raws: list[bytes]) -> bytes:
    """Encode already-encoded messages as one request body."""
    return encode(raws)


def decode_batch(body: bytes, max_bytes: int = MAX_MESSAGE_BYTES) -> list[bytes]:
    """Split a request body into encoded messages; raises ``DecodeError`` if malformed."""
    return decode(body, list[bytes], max_bytes=max_bytes)


class _PermanentFailure(Exception):
    """The peer rejected the batch (4xx): retrying the same bytes cannot succeed."""


@dataclass
class LinkStats:
    """Counters of one link (monotonic except ``queued``)."""

    messages_sent: int = 0
    requests_sent: int = 0  # POSTs attempted, including failed ones
    dropped: int = 0
    rejected: int = 0
    failures: int = 0
    queued: int = 0  # not yet delivered: waiting or in flight
    bytes_sent: int = 0  # request bodies of delivered batches


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
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
        request_timeout_s: float = 10.0,
        connect_timeout_s: float = 2.0,
        connections: int = 2,
    ) -> None:
        if max_queue < 1 or max_batch_messages < 1:
            raise ValueError("max_queue and max_batch_messages must be positive")
        self.own_id = own_id
        self.peer_id = peer_id
        self.url = base_url.rstrip("/") + P2P_PATH
        self.max_queue = max_queue
        self.max_batch_bytes = max_batch_bytes
        self.max_batch_messages = max_batch_messages
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._timeout = aiohttp.ClientTimeout(
            total=request_timeout_s, sock_connect=connect_timeout_s
        )
        self._connections = connections
        self._queue: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._stats = LinkStats()
        self._in_flight = 0
        self._up = True  # assume reachable until a request fails (only affects logging)

    @property
    def stats(self) -> LinkStats:
        """A snapshot of the counters."""
        s = self._stats
        return LinkStats(
            s.messages_sent,
            s.requests_sent,
            s.dropped,
            s.rejected,
            s.failures,
            len(self._queue) + self._in_flight,
            s.bytes_sent,
        )

    def start(self) -> None:
        """Open the HTTP session and start the sender task (call on the running loop)."""
        if self._task is not None:
            return
        connector = aiohttp.TCPConnector(
            limit=self._connections, limit_per_host=self._connections, enable_cleanup_closed=False
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, headers={SENDER_HEADER: self.own_id}
        )
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"flobc-link-{self.peer_id[:12]}"
        )

    async def close(self) -> None:
        """Stop the sender task and close the session; queued messages are discarded."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        self._queue.clear()

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
        """Put a failed batch back at the front; drop its oldest items if there is no room."""
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
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            elif await self._send_batch():
                backoff = self.backoff_initial_s
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)

    async def _send_batch(self) -> bool:
        """POST the next batch; False (batch requeued) if the peer could not be reached."""
        batch = self._take_batch()
        self._in_flight = len(batch)
        try:
            await self._post(batch)
        except _PermanentFailure as exc:
            self._stats.rejected += len(batch)
            logger.warning("%s rejected %d messages: %s", self.peer_id, len(batch), exc)
            return True
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._stats.failures += 1
            self._requeue(batch)
            if self._up:
                logger.warning("peer %s unreachable (%r); retrying", self.peer_id, exc)
                self._up = False
            else:
                logger.debug("peer %s still unreachable: %r", self.peer_id, exc)
            return False
        except Exception:  # a bug, not the network: drop the batch, keep the link alive
            self._stats.failures += 1
            logger.exception("unexpected error sending to %s", self.peer_id)
            return False
        finally:
            self._in_flight = 0
        self._stats.messages_sent += len(batch)
        if not self._up:
            logger.info("peer %s reachable again", self.peer_id)
            self._up = True
        return True

    async def _post(self, batch: list[bytes]) -> None:
        assert self._session is not None
        body = encode_batch(batch)
        self._stats.requests_sent += 1
        async with self._session.post(
            self.url, data=body, headers={"Content-Type": CONTENT_TYPE}
        ) as resp:
            detail = (await resp.read())[:200].decode(errors="replace")
            if resp.status >= 500:
                raise aiohttp.ClientResponseError(
                    resp.request_info, (), status=resp.status, message=detail
                )
            if resp.status >= 400:
                raise _PermanentFailure(f"HTTP {resp.status}: {detail}")
        self._stats.bytes_sent += len(body)
