"""The browser dashboard and the read-only endpoints it needs.

Every validator serves (``routes``):

* ``GET /`` — the dashboard page; ``GET /dashboard/...`` its scripts, styles and charts
* ``GET /v1/network`` — the validators of the network, each with its ``/v1/status``
  (fetched by this node, at most once a second) or, when unreachable, the height it last
  gossiped
* ``GET /v1/events`` — server-sent events, see :mod:`flobc.node.events`

FL validators also serve (``fl_routes``):

* ``GET /v1/models?since=V&limit=N`` — model versions ``V..V+N-1`` with each version's
  validation score (see :func:`version_scores`)
* ``GET /v1/updates?round=R&version=V&status=S&limit=N`` — recent updates, newest first,
  each with every validator's vote

Both take ``?subnet=NAME`` (see :mod:`flobc.node.fl_subnet_api`).
"""

from __future__ import annotations

import asyncio
import heapq
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from flobc.dashboard import STATIC_DIR
from flobc.node.events import EventHub, hub_for, stream_events
from flobc.node.fl_subnet_api import chosen_app, subnet_param
from flobc.node.http_errors import ApiError
from flobc.node.http_runtime import RUNTIME_KEY, HttpRuntime
from flobc.node.validator import ValidatorNode

routes = web.RouteTableDef()
fl_routes = web.RouteTableDef()

#: Seconds a fetched view of the peers' statuses is reused.
NETWORK_CACHE_S = 1.0
#: Seconds to wait for a peer's ``/v1/status``.
PEER_TIMEOUT_S = 1.0
#: Largest page of ``/v1/models`` and ``/v1/updates``.
MAX_LIMIT = 1000


def attach_dashboard(runtime: HttpRuntime[ValidatorNode], metric: str | None = None) -> None:
    """Hook the event hub to the node's commits; ``metric`` names what votes score."""
    hub = hub_for(runtime)
    if metric is not None:
        higher = True
        try:
            from flobc.ml.metrics import get_metric

            higher = get_metric(metric).higher_is_better
        except Exception:  # an unloadable plug-in metric: assume higher is better
            pass
        hub.metric = {"name": metric, "higher_is_better": higher}


def _int_param(request: web.Request, name: str, default: int | None, lo: int = 0) -> int | None:
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


# ---------------------------------------------------------------------- FL lists


def version_scores(updates: Any) -> dict[int, dict[str, float]]:
    """Version -> {validator index: its validation score of that version}.

    Every vote carries ``base_score``: the voter's metric of the update's base version on
    its private validation data. So a version's score is known once updates trained from
    it are voted on (the newest version has none yet).
    """
    out: dict[int, dict[str, float]] = {}
    for u in updates:
        per = out.setdefault(u.base_version, {})
        for k, vote in u.votes.items():
            base = vote["base_score"]
            per.setdefault(k, base)
    return out


@fl_routes.get("/v1/models")
async def models(request: web.Request) -> web.Response:
    """Versions ``since..since+limit-1``, each with its validators' validation scores."""
    since = _int_param(request, "since", 0)
    limit = _int_param(request, "limit", MAX_LIMIT, lo=1)
    assert since is not None and limit is not None
    limit = min(limit, MAX_LIMIT)
    from flobc.app.fl.queries import version_doc

    subnet = subnet_param(request)

    def read(n: ValidatorNode, now: int) -> tuple[Any, list[Any]]:
        st = chosen_app(n, subnet).state
        chosen = st.versions[since : since + limit]
        scores = version_scores(st.updates_on_bases(since, since + limit)) if chosen else {}
        docs = []
        for v in chosen:
            per = scores.get(v.version, {})
            doc = version_doc(v)
            doc["validation"] = {
                "median": statistics.median(per.values()) if per else None,
                "by_validator": dict(sorted(per.items(), key=lambda kv: int(kv[0]))),
            }
            docs.append(doc)
        return docs, []

    return web.json_response(await request.app[RUNTIME_KEY].call(read))


@fl_routes.get("/v1/updates")
async def updates(request: web.Request) -> web.Response:
    """Recent updates, newest first, optionally of one round, base version or status."""
    rnd = _int_param(request, "round", None)
    base = _int_param(request, "version", None)
    status = request.query.get("status")
    limit = min(_int_param(request, "limit", 100, lo=1) or 100, MAX_LIMIT)
    subnet = subnet_param(request)

    def read(n: ValidatorNode, now: int) -> tuple[Any, list[Any]]:
        found: list[Any] = []
        # newest round first; rounds do not overlap in height, so stop once enough are found
        for batch in chosen_app(n, subnet).state.update_batches():
            found += [
                u
                for u in batch
                if (rnd is None or u.round == rnd)
                and (base is None or u.base_version == base)
                and (status is None or u.status == status)
            ]
            if len(found) >= limit:
                break
        chosen = heapq.nlargest(limit, found, key=lambda u: (u.height, u.nonce, u.id))
        return [msgspec.to_builtins(u) for u in chosen], []

    return web.json_response(await request.app[RUNTIME_KEY].call(read))
