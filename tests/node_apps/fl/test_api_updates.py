"""The round's updates over HTTP, as colluding attackers read them: ``GET /v1/round?updates=1``
lists them and ``GET /v1/updates/{id}/delta`` serves each Δ as raw little-endian float32.

The FL routes run on a real aiohttp server in front of a validator of a simulated network
(no node processes), and the trainer's own client (:class:`FLClient`) reads them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web
from aiohttp.test_utils import TestServer

from flobc.node.http_errors import error_middleware
from flobc.node.http_runtime import RUNTIME_KEY
from flobc.node_apps.fl import api as fl_api
from flobc.node_apps.fl.attacks import trainer_attack
from flobc.node_apps.fl.fl_client import FLClient
from flobc.sim.fl_fixtures import tiny_config
from flobc.sim.fl_network import SimFLNetwork


class InProcessRuntime:
    """The two things the FL routes use of an HttpRuntime, over a simulated validator."""

    def __init__(self, node: Any):
        self.node = node

    async def call(self, fn: Callable[[Any, int], tuple[Any, Any]]) -> Any:
        return fn(self.node, 0)[0]

    async def run_in_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)


def test_round_updates_and_delta_endpoint() -> None:
    cfg = tiny_config(
        **{"sync.wait_for_all": True, "sync.period_s": 600},
        attacks=[{"name": "ipm", "trainers": [3]}],
    )
    net = SimFLNetwork(cfg)
    # stop mid-round 0, once every trainer's update is on the ledger
    app = net.ledger.node(0).app
    assert net.ledger.cluster.wait_for(lambda: len(app.state.round.submitted) == 4, 30_000)  # type: ignore[attr-defined]
    st = app.state  # type: ignore[attr-defined]

    async def main() -> None:
        web_app = web.Application(middlewares=[error_middleware])
        web_app.router.add_routes(fl_api.routes)
        web_app[RUNTIME_KEY] = InProcessRuntime(net.ledger.node(0))  # type: ignore[assignment]
        async with TestServer(web_app) as server, aiohttp.ClientSession() as session:
            url = str(server.make_url("")).rstrip("/")
            async with session.get(url + "/v1/round") as resp:
                assert "updates" not in await resp.json()  # opt-in: the polled doc stays small
            async with session.get(url + "/v1/round?updates=1") as resp:
                doc = await resp.json()
            assert [u["trainer"] for u in doc["updates"]] == [0, 1, 2, 3]
            assert all(u["base_version"] == 0 for u in doc["updates"])
            for u in doc["updates"]:
                async with session.get(f"{url}/v1/updates/{u['id']}/delta") as resp:
                    assert resp.status == 200
                    assert resp.content_type == "application/octet-stream"
                    body = await resp.read()
                assert body == net.blob(st.updates[u["id"]].blob)
            async with session.get(url + "/v1/updates/" + "ab" * 32 + "/delta") as resp:
                assert resp.status == 404
                assert "error" in await resp.json()

            client = FLClient([url], session)
            first = doc["updates"][0]["id"]
            vec = await client.delta(first)
            assert vec is not None and vec.dtype == np.dtype("<f4")
            assert vec.tobytes() == net.blob(st.updates[first].blob)
            view = await client.ledger_view(trainer_attack(cfg, 3), 0)
            assert view is not None and [j for j, _ in view.peers] == [0, 1, 2, 3]
            assert view.previous is None
            assert await client.ledger_view(None, 0) is None

    asyncio.run(main())
