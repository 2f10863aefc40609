"""In-process: the dashboard page, ``/v1/network`` and the ``/v1/events`` stream.

A one-validator KV network commits an empty block every 100 ms; the stream must emit one
``block`` event per commit, forget a client that disconnects, and end when the node stops.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from flobc.chain.genesis import ConsensusParams
from flobc.cli.dashboard import first_running_dashboard
from flobc.dashboard import STATIC_DIR
from flobc.node import events
from flobc.node.events import Subscriber, format_event, hub_for
from flobc.node.http_runtime import HttpRuntime
from flobc.node.launch import build_validator
from flobc.node_apps import NODE_APPS
from flobc.orchestration.netdir import create_network

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def validator(tmp_path: Path) -> AsyncIterator[HttpRuntime[Any]]:
    netdir = tmp_path / "net"
    create_network(netdir, validators=1, consensus=ConsensusParams(empty_block_interval_ms=100))
    rt, opened = build_validator(netdir / "validator-0", NODE_APPS)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()
        opened.close()


async def eventually(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def read_events(resp: aiohttp.ClientResponse, count: int) -> list[tuple[str, Any]]:
    """The next ``count`` events (name, parsed data) of an SSE response."""
    out: list[tuple[str, Any]] = []
    name = None
    while len(out) < count:
        line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            out.append((name or "message", json.loads(line[6:])))
            name = None
    return out


def test_format_and_overflow() -> None:
    assert format_event("block", {"height": 3}, 3) == b'event: block\nid: 3\ndata: {"height":3}\n\n'
    sub = Subscriber(max_buffered=2)
    for i in range(3):
        sub.push(format_event("block", {"height": i}))
    assert sub.drain() == [format_event("resync", {})]  # the backlog is dropped
    sub.push(b"x")
    assert sub.drain() == [b"x"] and sub.drain() == []


async def test_page_and_assets_are_served(validator: HttpRuntime[Any]) -> None:
    async with aiohttp.ClientSession(validator.url) as s:
        async with s.get("/") as r:
            assert r.status == 200 and r.content_type == "text/html"
            html = await r.text()
        for ref in ("/dashboard/app.js", "/dashboard/style.css", "/dashboard/vendor/uplot/"):
            assert ref in html
        for path in (
            "app.js",
            "style.css",
            "vendor/uplot/uPlot.iife.min.js",
            "vendor/uplot/LICENSE",
        ):
            async with s.get(f"/dashboard/{path}") as r:
                assert r.status == 200, path
                assert await r.read() == (STATIC_DIR / path).read_bytes()
        async with s.get("/dashboard/../../__init__.py") as r:
            assert r.status in (403, 404)
        async with s.get("/v1/network") as r:
            net = await r.json()
    assert net["app"] == "kv" and net["node_id"] == validator.process.node_id
    [me] = net["validators"]
    assert me["self"] and me["reachable"] and me["status"]["height"] == me["height"] >= 0


async def test_stream_emits_blocks_and_forgets_gone_clients(validator: HttpRuntime[Any]) -> None:
    hub = hub_for(validator)
    async with aiohttp.ClientSession(validator.url) as s:
        async with s.get("/v1/events") as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/event-stream")
            got = await read_events(r, 4)
            assert got[0][0] == "hello"
            heights = [d["height"] for name, d in got[1:] if name == "block"]
            assert len(heights) == 3 and heights == list(range(heights[0], heights[0] + 3))
            assert len(hub.subscribers) == 1
        # The client is gone: the next write fails and the subscriber is dropped.
        await eventually(lambda: not hub.subscribers)


async def test_stream_ends_when_the_node_stops(
    validator: HttpRuntime[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "POLL_S", 0.05)
    hub = hub_for(validator)
    async with aiohttp.ClientSession(validator.url) as s, s.get("/v1/events") as r:
        await read_events(r, 1)
        started = time.monotonic()
        await validator.stop()
        await asyncio.wait_for(r.content.read(), 5)  # EOF: the server ended the stream
        assert time.monotonic() - started < 3
    assert not hub.subscribers


async def test_too_many_streams_are_refused(
    validator: HttpRuntime[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "MAX_SUBSCRIBERS", 1)
    async with aiohttp.ClientSession(validator.url) as s, s.get("/v1/events") as first:
        await read_events(first, 1)
        async with s.get("/v1/events") as second:
            assert second.status == 503
            assert "error" in await second.json()


async def test_cli_finds_the_first_validator_that_answers(tmp_path: Path) -> None:
    netdir = tmp_path / "net"
    create_network(netdir, validators=2)
    assert await asyncio.to_thread(first_running_dashboard, netdir, 0.5) is None
    rt, opened = build_validator(netdir / "validator-1", NODE_APPS)  # validator-0 stays down
    await rt.start()
    try:
        url = await asyncio.to_thread(first_running_dashboard, netdir, 0.5)
    finally:
        await rt.stop()
        opened.close()
    assert url == f"http://127.0.0.1:{rt.port}/"
