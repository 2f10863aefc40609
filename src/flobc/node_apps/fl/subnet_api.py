"""Model subnetworks on the wire API: ``GET /v1/subnets`` and the ``?subnet=NAME`` choice.

Every FL endpoint takes ``?subnet=NAME``; without it, it means the only subnetwork (a
single-model network has one, unnamed). An unknown name, or none on a network with several,
is a 400 JSON error naming the ``subnet`` parameter.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from flobc.app.fl.app import FLApp
from flobc.app.fl.composite import SubnetsApp, fl_app
from flobc.app.fl.subnets import SubnetError
from flobc.node.http_errors import ApiError
from flobc.node.http_runtime import RUNTIME_KEY
from flobc.node.validator import ValidatorNode

routes = web.RouteTableDef()


def subnet_param(request: web.Request) -> str | None:
    """The request's ``?subnet=`` (None when absent)."""
    return request.query.get("subnet") or None


def chosen_app(node: ValidatorNode, subnet: str | None) -> FLApp:
    """The FL app of ``subnet`` on ``node``; a 400 naming the parameter when there is none."""
    try:
        return fl_app(node.app, subnet)
    except SubnetError as exc:
        raise ApiError(400, str(exc)) from exc


@routes.get("/v1/subnets")
async def subnets(request: web.Request) -> web.Response:
    """The model subnetworks in genesis order (empty for a single-model network)."""

    def read(node: ValidatorNode, now: int) -> tuple[Any, list[Any]]:
        app = node.app
        return (app.subnets_doc() if isinstance(app, SubnetsApp) else []), []

    return web.json_response(await request.app[RUNTIME_KEY].call(read))
