"""VersionWaiter: a trainer is woken by the event stream, not by polling."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import pytest
from aiohttp import web

from flobc.node.events import VersionWaiter, format_event

pytestmark = pytest.mark.timeout(30)


async def test_wakes_are_kept_and_block_wakes_are_rate_limited() -> None:
    async with aiohttp.ClientSession() as session:
        w = VersionWaiter(session, ["http://unused"], block_gap_s=10.0)
        assert not await w.wait(0.01)  # nothing yet: the fallback timeout
        w.on_event("version")  # arrives while the owner is busy: kept
        assert await w.wait(5)
        w.on_event("block")
        assert await w.wait(5)
        w.on_event("block")  # within the gap: no wake
        w.on_event("keepalive")
        assert not await w.wait(0.01)
        w.on_event("version")  # versions are never rate-limited
        assert await w.wait(5)


async def test_a_pushed_version_wakes_the_waiter_at_once() -> None:
    push: asyncio.Queue[bytes] = asyncio.Queue()

    async def events(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"retry: 2000\n\n" + format_event("hello", {"version": 0}))
        while not request.transport or not request.transport.is_closing():
            with contextlib.suppress(TimeoutError):
                await resp.write(await asyncio.wait_for(push.get(), 0.1))
        return resp

    app = web.Application()
    app.router.add_get("/v1/events", events)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            # the first URL is down: the waiter moves on to the next one
            w = VersionWaiter(session, ["http://127.0.0.1:9", f"http://127.0.0.1:{port}"])
            w.start()
            try:
                assert await w.wait(10)  # a failed stream or the hello: re-read the state
                deadline = time.monotonic() + 10
                while not w.connected:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.01)
                while await w.wait(0.05):  # drain the start-up wakes
                    pass
                t0 = time.perf_counter()
                await push.put(format_event("version", {"version": 1}, 5))
                assert await w.wait(5)
                assert time.perf_counter() - t0 < 1.0  # pushed, not a poll timeout
            finally:
                await w.close()
    finally:
        await runner.cleanup()
