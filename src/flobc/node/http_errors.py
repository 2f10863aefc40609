"""JSON errors for every HTTP endpoint, a body-size guard, and the fatal node error.

Every error a node's HTTP server returns is ``{"error": "<message>", ...}`` with a 4xx/5xx
status: handlers raise :class:`ApiError` (or any ``web.HTTPException``) and
:func:`error_middleware` renders it; unexpected exceptions become a 500 without a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from flobc.encoding import DecodeError

logger = logging.getLogger("flobc.http")

#: Headers of an ``HTTPException`` that must not be copied onto the JSON response.
_BODY_HEADERS = frozenset({"content-type", "content-length", "content-encoding"})


class ApiError(ValueError):
    """A client-facing error: rendered as ``{"error": message, **extra}`` with ``status``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        if not 400 <= status <= 599:
            raise ValueError(f"ApiError status must be 4xx or 5xx, got {status}")
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    """A JSON error response ``{"error": message, **extra}``."""
    return web.json_response({**extra, "error": message}, status=status)


def _from_http_exception(exc: web.HTTPException) -> web.Response:
    message = exc.text if exc.text and exc.text != f"{exc.status}: {exc.reason}" else exc.reason
    resp = json_error(exc.status, message or exc.reason)
    for name, value in exc.headers.items():
        if name.lower() not in _BODY_HEADERS:
            resp.headers.add(name, value)
    return resp


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render :class:`ApiError`, ``HTTPException`` (4xx/5xx) and crashes as JSON errors."""
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc.status, exc.message, **exc.extra)
    except DecodeError as exc:
        return json_error(400, f"malformed request: {exc}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and other non-errors pass through untouched
        return _from_http_exception(exc)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return json_error(500, "internal server error")


def body_limit_middleware(max_bytes: int) -> Middleware:
    """Middleware that rejects a request whose declared ``Content-Length`` exceeds ``max_bytes``.

    Chunked bodies have no declared length: read them with :func:`read_body`.
    """

    @web.middleware
    async def body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > max_bytes:
            return json_error(413, f"request body of {length} bytes exceeds {max_bytes}")
        return await handler(request)

    return body_limit


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """Read the whole body, raising ``ApiError(413)`` as soon as it exceeds ``max_bytes``."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise ApiError(413, f"request body of {length} bytes exceeds {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, f"request body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
