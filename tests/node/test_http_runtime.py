"""HttpRuntime over real loopback HTTP with toy processes: the process loop (messages
flooded to peers, timers, calls serialized with the loop, errors and a fatal stop, extra
routes, SIGTERM). Peer links and streams are in ``test_http_runtime_links.py``."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web
from runtime_toy import HOST, Bump, Ping, Toy, eventually, free_ports, make_cluster, running

from flobc.node.errors import FatalNodeError
from flobc.node.http_errors import ApiError
from flobc.node.http_runtime import FATAL_EXIT_CODE, RUNTIME_KEY, HttpRuntime
from flobc.node.process import Action, Broadcast, CancelTimer, Send, SetTimer
from flobc.node.serve import run

pytestmark = pytest.mark.timeout(30)


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


def test_run_stops_cleanly_on_sigterm() -> None:
    proc = Toy("solo", on_start=lambda now: [SetTimer("kill", now + 50)])
    proc.on_timer_hook = lambda _name, _now: signal.raise_signal(signal.SIGTERM) or []
    (rt,) = make_cluster([proc])
    before = signal.getsignal(signal.SIGTERM)
    assert run(rt) == 0
    assert not rt.running and [name for name, _ in proc.fired] == ["kill"]
    assert signal.getsignal(signal.SIGTERM) == before
