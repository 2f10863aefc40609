"""HttpRuntime over real loopback HTTP with toy processes."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import statistics
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

from flobc.encoding import encode
from flobc.node.errors import FatalNodeError
from flobc.node.http_errors import ApiError
from flobc.node.http_runtime import FATAL_EXIT_CODE, RUNTIME_KEY, HttpRuntime
from flobc.node.peer_link import (
    P2P_PATH,
    SENDER_HEADER,
    STREAM_PATH,
    ack_count,
    ack_frame,
    encode_batch,
)
from flobc.node.process import Action, Broadcast, CancelTimer, Send, SetTimer
from flobc.node.serve import run

pytestmark = pytest.mark.timeout(30)

HOST = "127.0.0.1"


class Bump(msgspec.Struct, tag="bump", array_like=True, frozen=True):
    origin: str
    seq: int


class Ping(msgspec.Struct, tag="ping", array_like=True, frozen=True):
    nonce: int


class Pong(msgspec.Struct, tag="pong", array_like=True, frozen=True):
    nonce: int


Msg = Bump | Ping | Pong


class Toy:
    """Records everything; answers Ping with Pong; optional per-test hooks."""

    message_type: Any = Msg

    def __init__(self, node_id: str, *, on_start: Callable[[int], list[Action]] | None = None):
        self.node_id = node_id
        self.received: list[tuple[str, Any]] = []
        self.fired: list[tuple[Hashable, int]] = []
        self.busy = False
        self.overlaps = 0
        self.threads: set[int] = set()
        self._on_start = on_start
        self.on_ping: Callable[[str, Ping, int], list[Action]] | None = None
        self.on_pong: Callable[[str, Pong, int], list[Action]] | None = None
        self.on_timer_hook: Callable[[Hashable, int], list[Action]] | None = None

    def _enter(self) -> None:
        self.threads.add(threading.get_ident())
        self.overlaps += self.busy

    def start(self, now_ms: int) -> list[Action]:
        return self._on_start(now_ms) if self._on_start else []

    def on_message(self, sender: str, msg: Any, now_ms: int) -> list[Action]:
        self._enter()
        self.received.append((sender, msg))
        if isinstance(msg, Ping):
            pong: list[Action] = [Send(sender, Pong(msg.nonce))]
            return self.on_ping(sender, msg, now_ms) if self.on_ping else pong
        return self.on_pong(sender, msg, now_ms) if isinstance(msg, Pong) and self.on_pong else []

    def on_timer(self, name: Hashable, now_ms: int) -> list[Action]:
        self._enter()
        self.fired.append((name, now_ms))
        return self.on_timer_hook(name, now_ms) if self.on_timer_hook else []

    def bumps(self) -> list[Bump]:
        return [m for _, m in self.received if isinstance(m, Bump)]


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def make_cluster(procs: list[Toy], **opts: Any) -> list[HttpRuntime[Toy]]:
    ports = free_ports(len(procs))
    urls = {p.node_id: f"http://{HOST}:{port}" for p, port in zip(procs, ports, strict=True)}
    return [HttpRuntime(p, urls, HOST, port, **opts) for p, port in zip(procs, ports, strict=True)]


@asynccontextmanager
async def running(*rts: HttpRuntime[Any]) -> AsyncIterator[None]:
    try:
        for rt in rts:
            await rt.start()
        yield
    finally:
        await asyncio.gather(*(rt.stop() for rt in rts))


async def eventually(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def test_three_nodes_flood_counter_and_converge() -> None:
    n = 50

    def flood(node: str) -> Callable[[int], list[Action]]:
        return lambda _now: [Broadcast(Bump(node, i)) for i in range(n)]

    procs = [Toy(f"n{i}", on_start=flood(f"n{i}")) for i in range(3)]
    rts = make_cluster(procs)
    async with running(*rts):
        await eventually(lambda: all(len(p.bumps()) == 2 * n for p in procs))
        for p, q in ((p, q) for p in procs for q in procs if p is not q):  # all, in order
            assert [b.seq for b in p.bumps() if b.origin == q.node_id] == list(range(n))
        # Keep flooding through call(): every node converges on the same total.
        for rt in rts:
            await rt.call(lambda p, _now: (None, [Broadcast(Bump(p.node_id, n))]))
        await eventually(lambda: all(len(p.bumps()) == 2 * (n + 1) for p in procs))
        assert all(p.overlaps == 0 for p in procs)


async def test_timer_fires_replaces_and_cancels() -> None:
    start: dict[str, int] = {}

    def on_start(now: int) -> list[Action]:
        start["t"] = now
        return [
            SetTimer("a", now + 30),
            SetTimer("b", now + 40),
            CancelTimer("b"),
            SetTimer("c", now + 10),
            SetTimer("c", now + 60),  # replaces the first "c"
            SetTimer("past", now - 1000),  # already due: fires at once
        ]

    proc = Toy("t0", on_start=on_start)
    (rt,) = make_cluster([proc])
    async with running(rt):
        await eventually(lambda: len(proc.fired) >= 3)
        await asyncio.sleep(0.1)
        assert [name for name, _ in proc.fired] == ["past", "a", "c"]
        t0, fired = start["t"], dict(proc.fired)
        assert t0 + 2000 > fired["a"] >= t0 + 30 and fired["c"] >= t0 + 60
        # A timer set from call() can be cancelled from call() before it fires.
        await rt.call(lambda _p, now: (None, [SetTimer("late", now + 50)]))
        await rt.call(lambda _p, _now: (None, [CancelTimer("late")]))
        await asyncio.sleep(0.12)
        assert "late" not in [name for name, _ in proc.fired]


async def test_peer_down_at_start_receives_later_and_others_not_blocked() -> None:
    procs = [Toy("a"), Toy("b"), Toy("c")]
    a_rt, b_rt, c_rt = make_cluster(procs, backoff_initial_s=0.02, backoff_max_s=0.2)
    _, b, c = procs
    async with running(a_rt, b_rt):  # "c" is down
        for i in range(20):
            await a_rt.call(lambda _p, _now, i=i: (None, [Broadcast(Bump("a", i))]))
        await eventually(lambda: len(b.bumps()) == 20, timeout=2.0)  # not blocked by c
        await eventually(lambda: a_rt.link_stats()["c"].failures >= 2)
        assert a_rt.link_stats()["c"].queued == 20
        await c_rt.start()
        try:
            await a_rt.call(lambda _p, _now: (None, [Send("c", Bump("a", 20))]))
            await eventually(lambda: len(c.bumps()) == 21, timeout=5.0)
            assert [m.seq for m in c.bumps()] == list(range(21))  # queued first, in order
            # batches leave the queue when acknowledged, a moment after delivery
            await eventually(lambda: a_rt.link_stats()["c"].queued == 0, timeout=2.0)
        finally:
            await c_rt.stop()


async def test_full_queue_drops_oldest() -> None:
    procs = [Toy("a"), Toy("b")]
    a_rt, b_rt = make_cluster(procs, max_queue=5, backoff_initial_s=0.02, backoff_max_s=0.05)
    async with running(a_rt):  # b is down
        await a_rt.call(lambda _p, _now: (None, [Send("b", Bump("a", i)) for i in range(12)]))
        await eventually(lambda: a_rt.link_stats()["b"].failures >= 1)
        stats = a_rt.link_stats()["b"]
        assert stats.queued == 5 and stats.dropped == 7
        async with running(b_rt):
            await eventually(lambda: len(procs[1].bumps()) == 5)
            assert [m.seq for m in procs[1].bumps()] == list(range(7, 12))


async def test_rejects_malformed_oversized_and_unknown_sender() -> None:
    procs = [Toy("a"), Toy("b")]
    a_rt, _ = make_cluster(procs, max_body=1024)
    good = encode_batch([encode(Bump("b", 1))])
    async with running(a_rt), aiohttp.ClientSession() as http:
        url = a_rt.url + P2P_PATH

        async def post(body: Any, sender: str | None = "b") -> tuple[int, Any]:
            headers = {SENDER_HEADER: sender} if sender is not None else {}
            async with http.post(url, data=body, headers=headers) as resp:
                return resp.status, await resp.json()

        bad_inner = encode_batch([encode(Bump("b", 1)), b"\xc1"])  # 2nd message invalid
        wrong_type = encode_batch([encode(Bump("b", 2)), encode(["nope", 1])])
        for body in (b"\xc1garbage", encode({"x": 1}), bad_inner, wrong_type):
            status, payload = await post(body)
            assert status == 400 and "error" in payload
        status, payload = await post(b"\x90" + b"\x00" * 2000)
        assert status == 413 and "error" in payload

        async def chunked() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"\x00" * 200

        status, payload = await post(chunked())
        assert status == 413 and "error" in payload
        for sender in ("mallory", "a", "", None):
            status, payload = await post(good, sender)
            assert status == 403 and payload == {"error": "unknown sender"}
        async with http.get(a_rt.url + "/nope") as resp:
            assert resp.status == 404 and "error" in await resp.json()
        assert procs[0].received == []
        async with http.post(url, data=good, headers={SENDER_HEADER: "b"}) as resp:
            assert resp.status == 204
        assert procs[0].received == [("b", Bump("b", 1))]


async def test_call_is_serialized_with_the_loop() -> None:
    procs = [Toy("a"), Toy("b")]
    a_rt, b_rt = make_cluster(procs)
    a, b = procs
    loop_thread = threading.get_ident()
    async with running(a_rt, b_rt):

        def step(p: Toy, now: int) -> tuple[int, list[Action]]:
            assert threading.get_ident() == loop_thread
            p.overlaps += p.busy
            p.busy = True
            try:
                return now, [Send("b", Bump("a", len(p.threads)))]
            finally:
                p.busy = False

        async def flood_from_b() -> None:
            for i in range(100):
                await b_rt.call(lambda _p, _now, i=i: (None, [Send("a", Bump("b", i))]))
                await asyncio.sleep(0)

        results = await asyncio.gather(flood_from_b(), *(a_rt.call(step) for _ in range(100)))
        assert all(isinstance(r, int) for r in results[1:])
        await eventually(lambda: len(a.bumps()) == 100 and len(b.bumps()) == 100)
        assert a.overlaps == 0 and a.threads == {loop_thread}

        # Blocking work runs off-loop; its result comes back to the loop.
        assert await a_rt.run_in_worker(threading.get_ident) != loop_thread
        assert await a_rt.run_in_worker(sum, [1, 2, 3]) == 6

        # An exception in fn reaches the caller; the runtime keeps going.
        with pytest.raises(KeyError):
            await a_rt.call(lambda _p, _now: ({}["missing"], []))
        assert a_rt.running


async def test_process_errors_are_logged_and_fatal_error_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    procs = [Toy("a"), Toy("b")]
    a_rt, b_rt = make_cluster(procs)
    a = procs[0]

    def on_ping(_sender: str, msg: Ping, _now: int) -> list[Action]:
        if msg.nonce == 1:
            raise RuntimeError("boom")
        if msg.nonce == 2:
            raise FatalNodeError("app hash diverged")
        return []

    a.on_ping = on_ping
    caplog.set_level(logging.INFO, logger="flobc.http")
    async with running(a_rt, b_rt):
        await b_rt.call(lambda _p, _now: (None, [Send("a", Ping(1)), Send("a", Bump("b", 0))]))
        await eventually(lambda: len(a.bumps()) == 1)  # the message after the error still ran
        assert a_rt.running
        assert any("boom" in (r.exc_text or "") for r in caplog.records)
        await b_rt.call(lambda _p, _now: (None, [Send("a", Ping(2))]))
        code = await asyncio.wait_for(a_rt.run_forever(), 5)
        assert code == FATAL_EXIT_CODE != 0
        assert isinstance(a_rt.fatal_error, FatalNodeError)
        assert any(r.levelno == logging.CRITICAL for r in caplog.records)
        assert all(r.name == "flobc.http" for r in caplog.records if r.name.startswith("flobc"))


async def test_extra_routes_use_call_and_errors_are_json() -> None:
    async def submit(request: web.Request) -> web.Response:
        rt = request.app[RUNTIME_KEY]
        seq = int(request.query["seq"])  # a missing key -> KeyError -> JSON 500
        if seq < 0:
            raise ApiError(400, "seq must be >= 0")
        count = await rt.call(lambda p, _now: (len(p.received), [Broadcast(Bump("a", seq))]))
        return web.json_response({"seen": count})

    def check_app_hash(_p: Toy, _now: int) -> tuple[None, list[Action]]:
        raise FatalNodeError("app hash diverged")

    async def diverge(request: web.Request) -> web.Response:
        await request.app[RUNTIME_KEY].call(check_app_hash)
        return web.json_response({})

    procs = [Toy("a"), Toy("b")]
    routes = [web.post("/v1/submit", submit), web.post("/v1/diverge", diverge)]
    urls = dict(zip(("a", "b"), (f"http://{HOST}:{p}" for p in free_ports(2)), strict=True))
    a_rt = HttpRuntime(procs[0], urls, HOST, 0, extra_routes=routes)
    b_rt = HttpRuntime(procs[1], urls, HOST, int(urls["b"].rsplit(":", 1)[1]))
    async with running(a_rt, b_rt), aiohttp.ClientSession() as http:
        assert a_rt.port != 0 and a_rt.url == f"http://{HOST}:{a_rt.port}"
        async with http.post(a_rt.url + "/v1/submit?seq=4") as resp:
            assert resp.status == 200 and await resp.json() == {"seen": 0}
        await eventually(lambda: procs[1].bumps() == [Bump("a", 4)])
        async with http.post(a_rt.url + "/v1/submit?seq=-1") as resp:
            assert resp.status == 400 and await resp.json() == {"error": "seq must be >= 0"}
        async with http.post(a_rt.url + "/v1/submit") as resp:
            assert resp.status == 500 and await resp.json() == {"error": "internal server error"}
        async with http.post(a_rt.url + "/v1/diverge") as resp:
            assert resp.status == 503 and "error" in await resp.json()
        assert await asyncio.wait_for(a_rt.run_forever(), 5) == FATAL_EXIT_CODE


async def test_burst_is_batched_into_fewer_posts() -> None:
    procs = [Toy("a"), Toy("b")]
    a_rt, b_rt = make_cluster(procs)
    n = 500
    async with running(a_rt, b_rt):
        for i in range(n):  # one message per event, as separate events would produce them
            await a_rt.call(lambda _p, _now, i=i: (None, [Send("b", Bump("a", i))]))
            if i % 10 == 0:
                await asyncio.sleep(0)
        await eventually(lambda: len(procs[1].bumps()) == n)
        # counted as sent once acknowledged, which comes back after delivery
        await eventually(lambda: a_rt.link_stats()["b"].messages_sent == n)
        stats = a_rt.link_stats()["b"]
        assert stats.messages_sent == n and 1 <= stats.requests_sent < n / 5
        assert [m.seq for m in procs[1].bumps()] == list(range(n))
        # An idle link sends a lone message at once, in its own request.
        await a_rt.call(lambda _p, _now: (None, [Send("b", Bump("a", n))]))
        await eventually(lambda: len(procs[1].bumps()) == n + 1, timeout=1.0)
        assert a_rt.link_stats()["b"].requests_sent == stats.requests_sent + 1


async def test_ping_pong_round_trip_latency(capsys: pytest.CaptureFixture[str]) -> None:
    procs = [Toy("a"), Toy("b")]
    a_rt, b_rt = make_cluster(procs)
    rounds = 200
    rtts: list[float] = []
    sent_at: dict[int, float] = {}
    done = asyncio.Event()

    def on_pong(_sender: str, msg: Pong, _now: int) -> list[Action]:
        rtts.append(time.perf_counter() - sent_at[msg.nonce])
        if len(rtts) >= rounds:
            done.set()
            return []
        sent_at[msg.nonce + 1] = time.perf_counter()
        return [Send("b", Ping(msg.nonce + 1))]

    procs[0].on_pong = on_pong
    async with running(a_rt, b_rt):
        sent_at[0] = time.perf_counter()
        await a_rt.call(lambda _p, _now: (None, [Send("b", Ping(0))]))
        await asyncio.wait_for(done.wait(), 20)
    median_ms = statistics.median(rtts[10:]) * 1000
    with capsys.disabled():
        print(
            f"\nping-pong round trip over loopback HTTP: median {median_ms:.3f} ms "
            f"(p90 {statistics.quantiles(rtts[10:], n=10)[-1] * 1000:.3f} ms, {rounds} rounds)"
        )
    assert len(rtts) == rounds


def test_run_stops_cleanly_on_sigterm() -> None:
    proc = Toy("solo", on_start=lambda now: [SetTimer("kill", now + 50)])
    proc.on_timer_hook = lambda _name, _now: signal.raise_signal(signal.SIGTERM) or []
    (rt,) = make_cluster([proc])
    before = signal.getsignal(signal.SIGTERM)
    assert run(rt) == 0
    assert not rt.running and [name for name, _ in proc.fired] == ["kill"]
    assert signal.getsignal(signal.SIGTERM) == before


class GatedLog:
    """A deferred-sync log whose fsync blocks until the test opens the gate."""

    def __init__(self) -> None:
        self.appended = 0
        self.owed = 0
        self.synced = 0
        self.deferred = False
        self.gate = threading.Event()
        self.sync_threads: set[int] = set()

    def append(self, *, sync: bool) -> None:
        self.appended += 1
        if sync:
            self.owed = self.appended

    def defer_syncs(self) -> None:
        self.deferred = True

    def sync_owed(self) -> int:
        return self.owed if self.owed > self.synced else 0

    def sync_through(self, record: int) -> None:
        self.sync_threads.add(threading.get_ident())
        assert self.gate.wait(5)
        self.synced = max(self.synced, record)


async def test_messages_wait_for_the_fsync_they_depend_on_and_keep_order() -> None:
    log = GatedLog()
    procs = [Toy("a"), Toy("b")]
    a_rt, b_rt = make_cluster(procs)
    a_rt._durability = log  # what launch.py passes as durability=
    a, b = procs

    def signed(p: Toy, _now: int) -> tuple[None, list[Action]]:
        log.append(sync=True)  # like an own vote logged before it is broadcast
        return None, [Broadcast(Bump("a", 0)), SetTimer("t", _now + 1)]

    async with running(a_rt, b_rt):
        assert log.deferred
        await a_rt.call(signed)
        await a_rt.call(lambda _p, _now: (None, [Broadcast(Bump("a", 1))]))  # no sync needed
        await eventually(lambda: len(a.fired) == 1)  # timers do not wait
        # The loop stays free while the fsync is blocked: it still answers b's ping.
        await b_rt.call(lambda _p, _now: (None, [Send("a", Ping(7))]))
        await eventually(lambda: any(isinstance(m, Ping) for _, m in a.received))
        await asyncio.sleep(0.05)
        assert b.bumps() == []  # nothing left before the fsync
        log.gate.set()
        await eventually(lambda: len(b.bumps()) == 2)
        assert [m.seq for m in b.bumps()] == [0, 1]  # the later message kept its place
        assert threading.get_ident() not in log.sync_threads


async def test_stream_acks_batches_and_refuses_strangers_and_malformed_frames() -> None:
    procs = [Toy("a"), Toy("b")]
    a_rt, _ = make_cluster(procs, max_body=1024)
    async with running(a_rt), aiohttp.ClientSession() as http:
        url = a_rt.url + STREAM_PATH
        for sender in ("mallory", ""):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(url, headers={SENDER_HEADER: sender})
            assert info.value.status == 403
        async with http.ws_connect(url, headers={SENDER_HEADER: "b"}) as ws:
            await ws.send_bytes(encode_batch([encode(Bump("b", 1)), encode(Bump("b", 2))]))
            ack = await ws.receive(timeout=5)
            assert ack.type == aiohttp.WSMsgType.BINARY and ack_count(ack.data) == 1
            assert procs[0].bumps() == [Bump("b", 1), Bump("b", 2)]
            # acknowledgements count the frames they cover (frames arriving together share one)
            for i in range(3, 13):
                await ws.send_bytes(encode_batch([encode(Bump("b", i))]))
            acked = 0
            while acked < 10:
                ack = await ws.receive(timeout=5)
                assert ack.type == aiohttp.WSMsgType.BINARY
                acked += ack_count(ack.data)
            assert acked == 10 and [m.seq for m in procs[0].bumps()] == list(range(1, 13))
            # a good batch and a malformed one back to back: the good one is acknowledged
            # before the close that rejects the malformed one
            await ws.send_bytes(encode_batch([encode(Bump("b", 13))]))
            await ws.send_bytes(encode_batch([encode(Bump("b", 14)), b"\xc1"]))
            ack = await ws.receive(timeout=5)
            assert ack.type == aiohttp.WSMsgType.BINARY and ack_count(ack.data) == 1
            closed = await ws.receive(timeout=5)
            assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert ws.close_code == aiohttp.WSCloseCode.UNSUPPORTED_DATA
        assert [m.seq for m in procs[0].bumps()] == list(range(1, 14))  # the bad batch: nothing


async def test_stream_survives_a_peer_restart_in_order() -> None:
    procs = [Toy("a"), Toy("b")]
    a_rt, b_rt = make_cluster(procs, backoff_initial_s=0.02, backoff_max_s=0.1)
    async with running(a_rt):
        await b_rt.start()
        await a_rt.call(lambda _p, _now: (None, [Send("b", Bump("a", 0))]))
        await eventually(lambda: len(procs[1].bumps()) == 1)
        await b_rt.stop()
        for i in range(1, 6):
            await a_rt.call(lambda _p, _now, i=i: (None, [Send("b", Bump("a", i))]))
        await eventually(lambda: a_rt.link_stats()["b"].failures >= 1)
        b2 = Toy("b")
        b2_rt = HttpRuntime(b2, {"a": a_rt.url, "b": b_rt.url}, HOST, b_rt.port)
        async with running(b2_rt):
            await eventually(lambda: len(b2.bumps()) >= 5)
            assert [m.seq for m in b2.bumps()][-5:] == [1, 2, 3, 4, 5]
            # the acknowledgements travel back after delivery (a race under load)
            await eventually(lambda: a_rt.link_stats()["b"].queued == 0)
            assert a_rt.link_stats()["b"].connects >= 2


def test_an_ack_frame_counts_its_batches_and_an_empty_one_counts_one() -> None:
    assert [ack_count(ack_frame(n)) for n in (1, 7, 300)] == [1, 7, 300]
    assert ack_count(b"") == 1  # what older peers send
