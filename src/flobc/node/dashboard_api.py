"""The browser dashboard and the read-only endpoints it needs.

Every validator serves (``routes``):

* ``GET /`` — the dashboard page; ``GET /dashboard/...`` its scripts, styles and charts
* ``GET /v1/network`` — the validators of the network, each with its ``/v1/status``
  (fetched by this node, at most once a second) or, when unreachable, the height it last
  gossiped
* ``GET /v1/events`` — server-sent events, see :mod:`flobc.node.events`

The hosted application adds its own lists (FL: :mod:`flobc.node_apps.fl.dashboard_api`).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from flobc.dashboard import STATIC_DIR
from flobc.node.events import EventHub, hub_for, stream_events
from flobc.node.hosting import EventFeed
from flobc.node.http_errors import ApiError
from flobc.node.http_runtime import RUNTIME_KEY, HttpRuntime
from flobc.node.validator import ValidatorNode

routes = web.RouteTableDef()

#: Seconds a fetched view of the peers' statuses is reused.
NETWORK_CACHE_S = 1.0
#: Seconds to wait for a peer's ``/v1/status``.
PEER_TIMEOUT_S = 1.0
#: Largest page of a dashboard list (FL: ``/v1/models`` and ``/v1/updates``).
MAX_LIMIT = 1000


def attach_dashboard(
    runtime: HttpRuntime[ValidatorNode], metric: str | None = None, feed: EventFeed | None = None
) -> None:
    """Hook the event hub to the node's commits; ``metric`` names what votes score and
    ``feed`` adds the hosted application's events."""
    hub = hub_for(runtime)
    if feed is not None:
        hub.feed = feed
    if metric is not None:
        higher = True
        try:
            from flobc.ml.metrics import get_metric

            higher = get_metric(metric).higher_is_better
        except Exception:  # an unloadable plug-in metric: assume higher is better
            pass
        hub.metric = {"name": metric, "higher_is_better": higher}


def int_param(request: web.Request, name: str, default: int | None, lo: int = 0) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, f"{name} must be an integer") from exc
    if value < lo:
        raise ApiError(400, f"{name} must be at least {lo}")
    return value


# ---------------------------------------------------------------------- page and events


@routes.get("/")
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def _static_file(name: str) -> Path | None:
    """``name`` as a file under ``STATIC_DIR``, or None (missing, a folder, outside it)."""
    try:
        path = (STATIC_DIR / name).resolve()
        path.relative_to(STATIC_DIR.resolve())
        return path if path.is_file() else None
    except (ValueError, OSError):  # outside the folder, a NUL byte, an unreadable path
        return None


@routes.get("/dashboard/{path:.*}")
async def static_file(request: web.Request) -> web.FileResponse:
    """A file of the dashboard's static folder. Not ``routes.static``: its 404 for a
    missing file is an empty ``application/octet-stream`` answer, not a JSON error."""
    name = request.match_info["path"]
    path = await asyncio.get_running_loop().run_in_executor(None, _static_file, name)
    if path is None:
        raise ApiError(404, f"no dashboard file {name!r}")
    return web.FileResponse(path)


@routes.get("/v1/events")
async def events(request: web.Request) -> web.StreamResponse:
    return await stream_events(request, request.app[RUNTIME_KEY])


# ---------------------------------------------------------------------- network


async def _fetch_status(session: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    try:
        async with session.get(url.rstrip("/") + "/v1/status") as resp:
            if resp.status != 200:
                return None
            doc = await resp.json()
            return doc if isinstance(doc, dict) else None
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None


async def _peer_statuses(hub: EventHub, urls: dict[str, str]) -> dict[str, dict[str, Any] | None]:
    """Each peer's ``/v1/status`` (None if unreachable), cached for ``NETWORK_CACHE_S``."""
    async with hub.network_lock:
        now = time.monotonic()
        if hub.network_cache is not None and now - hub.network_cache[0] < NETWORK_CACHE_S:
            return hub.network_cache[1]
        timeout = aiohttp.ClientTimeout(total=PEER_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            docs = await asyncio.gather(*(_fetch_status(session, u) for u in urls.values()))
        result = dict(zip(urls, docs, strict=True))
        hub.network_cache = (time.monotonic(), result)
        return result


@routes.get("/v1/network")
async def network(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME_KEY]
    hub = hub_for(rt)
    node: ValidatorNode = rt.process
    own = await rt.call(lambda n, now: (n.status(), []))
    peer_urls = {
        v.address.hex(): v.url
        for v in node.vset.validators
        if v.url and v.address.hex() != node.node_id
    }
    fetched = await _peer_statuses(hub, peer_urls)
    gossiped = own.get("peers", {})
    validators = []
    for i, v in enumerate(node.vset.validators):
        nid = v.address.hex()
        me = nid == node.node_id
        status = own if me else fetched.get(nid)
        validators.append(
            {
                "index": i,
                "node_id": nid,
                "url": v.url,
                "power": v.power,
                "self": me,
                "reachable": status is not None,
                "height": status["height"] if status else gossiped.get(nid),
                "status": status,
            }
        )
    return web.json_response(
        {
            "chain_id": node.chain_id,
            "app": node.genesis.app_state.get("app"),
            "node_id": node.node_id,
            "metric": hub.metric,
            "validators": validators,
        }
    )
