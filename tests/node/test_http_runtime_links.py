"""HttpRuntime's peer links over real loopback HTTP with toy processes: a peer that is
down, a full queue, bad batches, batching, round-trip latency, messages held for the fsync
they depend on, and the persistent streams' acknowledgements and resends."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from runtime_toy import HOST, Bump, Ping, Pong, Toy, eventually, make_cluster, running

from flobc.encoding import encode
from flobc.node.http_runtime import HttpRuntime
from flobc.node.peer_link import (
    P2P_PATH,
    SENDER_HEADER,
    STREAM_PATH,
    ack_count,
    ack_frame,
    encode_batch,
)
from flobc.node.process import Action, Broadcast, Send, SetTimer

pytestmark = pytest.mark.timeout(30)


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
