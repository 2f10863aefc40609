"""JSON error rendering, the error middleware and the body-size guard."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from flobc.encoding import DecodeError
from flobc.node.http_errors import (
    ApiError,
    body_limit_middleware,
    error_middleware,
    json_error,
    read_body,
)

pytestmark = pytest.mark.timeout(30)


def test_json_error_response() -> None:
    resp = json_error(409, "conflict", height=3)
    assert resp.status == 409 and resp.content_type == "application/json"
    assert resp.text is not None and json.loads(resp.text) == {"error": "conflict", "height": 3}
    assert json.loads(json_error(400, "x", error="ignored").text or "") == {"error": "x"}


def test_api_error_is_a_value_error_with_checked_status() -> None:
    err = ApiError(404, "no such block", height=7)
    assert isinstance(err, ValueError) and str(err) == "no such block"
    assert (err.status, err.extra) == (404, {"height": 7})
    with pytest.raises(ValueError):
        ApiError(200, "not an error")


async def _raise_api(_: web.Request) -> web.Response:
    raise ApiError(422, "bad field", field="x")


async def _raise_http(_: web.Request) -> web.Response:
    raise web.HTTPConflict(text="already have it")


async def _raise_crash(_: web.Request) -> web.Response:
    raise RuntimeError("secret internals")


async def _raise_decode(_: web.Request) -> web.Response:
    raise DecodeError("truncated")


async def _redirect(_: web.Request) -> web.Response:
    raise web.HTTPFound("/ok")


async def _ok(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _echo(request: web.Request) -> web.Response:
    return web.json_response({"n": len(await read_body(request, 100))})


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application(middlewares=[error_middleware, body_limit_middleware(100)])
    app.router.add_get("/api", _raise_api)
    app.router.add_get("/http", _raise_http)
    app.router.add_get("/crash", _raise_crash)
    app.router.add_get("/decode", _raise_decode)
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/ok", _ok)
    app.router.add_post("/echo", _echo)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


async def _get(client: TestClient[web.Request, web.Application], path: str) -> tuple[int, object]:
    resp = await client.get(path, allow_redirects=False)
    assert resp.content_type == "application/json"
    return resp.status, await resp.json()


async def test_middleware_renders_errors_as_json(
    client: TestClient[web.Request, web.Application], caplog: pytest.LogCaptureFixture
) -> None:
    assert await _get(client, "/ok") == (200, {"ok": True})
    assert await _get(client, "/api") == (422, {"error": "bad field", "field": "x"})
    assert await _get(client, "/http") == (409, {"error": "already have it"})
    assert await _get(client, "/missing") == (404, {"error": "Not Found"})
    status, body = await _get(client, "/decode")
    assert status == 400 and "truncated" in body["error"]  # type: ignore[index]
    with caplog.at_level(logging.ERROR, logger="flobc.http"):
        assert await _get(client, "/crash") == (500, {"error": "internal server error"})
    assert any("secret internals" in (r.exc_text or "") for r in caplog.records)  # logged only


async def test_method_not_allowed_keeps_allow_header(
    client: TestClient[web.Request, web.Application],
) -> None:
    resp = await client.post("/ok")
    assert resp.status == 405 and "error" in await resp.json()
    assert "GET" in resp.headers["Allow"]


async def test_redirects_pass_through(client: TestClient[web.Request, web.Application]) -> None:
    resp = await client.get("/redirect", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/ok"


async def test_body_limit(client: TestClient[web.Request, web.Application]) -> None:
    resp = await client.post("/echo", data=b"x" * 100)
    assert resp.status == 200 and await resp.json() == {"n": 100}
    resp = await client.post("/echo", data=b"x" * 101)  # declared length: middleware
    assert resp.status == 413 and "error" in await resp.json()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 30

    resp = await client.post("/echo", data=chunks())  # no declared length: read_body
    assert resp.status == 413 and "error" in await resp.json()
