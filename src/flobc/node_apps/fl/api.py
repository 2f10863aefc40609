"""The FL wire API of a validator: model versions, weights, trainers, updates, rounds."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from flobc.encoding import decode
from flobc.node.api import MAX_SUBMISSION_BYTES, TxSubmission, path_int, submit_and_respond
from flobc.node.http_errors import ApiError, read_body
from flobc.node.http_runtime import RUNTIME_KEY
from flobc.node.validator import ValidatorNode
from flobc.node_apps.fl.subnet_api import chosen_app, subnet_param

routes = web.RouteTableDef()


async def _query(request: web.Request, path: str, **params: Any) -> Any:
    rt = request.app[RUNTIME_KEY]
    subnet = subnet_param(request)

    def call(node: ValidatorNode, now: int) -> tuple[Any, list[Any]]:
        app = chosen_app(node, subnet)
        try:
            return app.query(path, params), []
        except KeyError as exc:
            raise ApiError(404, str(exc.args[0]) if exc.args else "not found") from exc

    return await rt.call(call)


def _version(request: web.Request) -> int:
    return path_int(request, "version")


@routes.get("/v1/models/latest")
async def latest(request: web.Request) -> web.Response:
    return web.json_response(await _query(request, "latest"))


@routes.get("/v1/models/{version}")
async def model(request: web.Request) -> web.Response:
    return web.json_response(await _query(request, "version", version=_version(request)))


@routes.get("/v1/models/{version}/weights")
async def weights(request: web.Request) -> web.Response:
    """The weights as safetensors (loadable with ``safetensors.torch.load``)."""
    from flobc.ml.weights import ModelSpec, to_safetensors, vector_view

    doc = await _query(request, "version", version=_version(request))
    rt = request.app[RUNTIME_KEY]
    subnet = subnet_param(request)

    def read(node: ValidatorNode, now: int) -> tuple[Any, list[Any]]:
        spec_json = chosen_app(node, subnet).cfg.model.spec_json
        return (node.blobs.get(bytes.fromhex(doc["hash"])), spec_json), []

    data, spec_json = await rt.call(read)
    if data is None:
        raise ApiError(404, "weights not available on this node")
    vec = vector_view(data)
    body = await rt.run_in_worker(to_safetensors, vec, ModelSpec.from_json(spec_json))
    return web.Response(
        body=body,
        content_type="application/octet-stream",
        headers={"X-Flobc-Version": str(doc["version"]), "X-Flobc-Weights-Hash": doc["hash"]},
    )


@routes.get("/v1/trainers")
async def trainers(request: web.Request) -> web.Response:
    return web.json_response(await _query(request, "trainers"))


@routes.get("/v1/updates/{id}")
async def update(request: web.Request) -> web.Response:
    return web.json_response(await _query(request, "update", id=request.match_info["id"]))


@routes.get("/v1/updates/{id}/delta")
async def update_delta(request: web.Request) -> web.Response:
    """The update's Δ blob: raw little-endian float32 (public, like the ledger it is on)."""
    doc = await _query(request, "update", id=request.match_info["id"])
    rt = request.app[RUNTIME_KEY]

    def read(node: ValidatorNode, now: int) -> tuple[Any, list[Any]]:
        return node.blobs.get(bytes.fromhex(doc["blob"])), []

    data = await rt.call(read)
    if data is None:
        raise ApiError(404, "update blob not available on this node")
    return web.Response(
        body=data,
        content_type="application/octet-stream",
        headers={"X-Flobc-Blob-Hash": doc["blob"]},
    )


@routes.get("/v1/round")
async def round_(request: web.Request) -> web.Response:
    """The current round; ``?updates=1`` lists the round's updates too."""
    updates = request.query.get("updates", "") not in ("", "0", "false")
    return web.json_response(await _query(request, "round", updates=updates))


@routes.get("/v1/config")
async def config(request: web.Request) -> web.Response:
    return web.json_response(await _query(request, "config"))


@routes.post("/v1/updates")
async def upload(request: web.Request) -> web.Response:
    """A trainer's upload: a signed ``fl.update`` transaction and its Δ blob."""
    body = await read_body(request, MAX_SUBMISSION_BYTES)
    sub = decode(body, TxSubmission, max_bytes=MAX_SUBMISSION_BYTES)
    if len(sub.blobs) != 1:
        raise ApiError(400, "an update upload carries exactly one blob (the update)")
    return await submit_and_respond(request, sub.tx, sub.blobs)
