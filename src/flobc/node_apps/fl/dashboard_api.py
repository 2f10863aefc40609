"""The FL lists of the dashboard, served by FL validators next to the node's own
dashboard routes (:mod:`flobc.node.dashboard_api`):

* ``GET /v1/models?since=V&limit=N`` — model versions ``V..V+N-1`` with each version's
  validation score (see :func:`version_scores`)
* ``GET /v1/updates?round=R&version=V&status=S&limit=N`` — recent updates, newest first,
  each with every validator's vote

Both take ``?subnet=NAME`` (see :mod:`flobc.node_apps.fl.subnet_api`).
"""

from __future__ import annotations

import heapq
import statistics
from typing import Any

import msgspec
from aiohttp import web

from flobc.app.fl.queries import version_doc
from flobc.node.dashboard_api import MAX_LIMIT, int_param
from flobc.node.http_runtime import RUNTIME_KEY
from flobc.node.validator import ValidatorNode
from flobc.node_apps.fl.subnet_api import chosen_app, subnet_param

routes = web.RouteTableDef()


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


@routes.get("/v1/models")
async def models(request: web.Request) -> web.Response:
    """Versions ``since..since+limit-1``, each with its validators' validation scores."""
    since = int_param(request, "since", 0)
    limit = int_param(request, "limit", MAX_LIMIT, lo=1)
    assert since is not None and limit is not None
    limit = min(limit, MAX_LIMIT)
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


@routes.get("/v1/updates")
async def updates(request: web.Request) -> web.Response:
    """Recent updates, newest first, optionally of one round, base version or status."""
    rnd = int_param(request, "round", None)
    base = int_param(request, "version", None)
    status = request.query.get("status")
    limit = min(int_param(request, "limit", 100, lo=1) or 100, MAX_LIMIT)
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


__all__ = ["routes", "version_scores"]
