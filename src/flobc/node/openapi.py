"""The OpenAPI 3.1 description of a validator's HTTP API, served at ``GET /v1/openapi.json``.

The document is data built here: the path table below names each route's parameters,
bodies and answers, and every body schema is generated with ``msgspec.json.schema_components``
from msgspec structs (those of :mod:`flobc.node.api_schemas` and the node's own
:class:`TxSubmission`), so a field added to a struct shows up in the spec. The hosted
application adds its paths and schemas (:class:`~flobc.node.hosting.OpenApiFragment`; FL:
:mod:`flobc.node_apps.fl.openapi`).
``tests/node/test_openapi.py`` checks that it validates, that every served route is in it
and that real answers of a live FL network match it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from flobc import __version__
from flobc.node import api_schemas as s
from flobc.node.api import MAX_BATCH_TXS, TxSubmission
from flobc.node.hosting import OpenApiFragment
from flobc.node.peer_link import P2P_PATH, SENDER_HEADER, STREAM_PATH

OPENAPI_PATH = "/v1/openapi.json"
MSGPACK = "application/msgpack"
_REF = "#/components/schemas/{name}"

_SCHEMA_TYPES: list[Any] = [
    s.ErrorDoc,
    s.PendingErrorDoc,
    s.StatusDoc,
    s.BlockDoc,
    s.TxAcceptedDoc,
    s.TxBatchResultDoc,
    s.TxLocationDoc,
    TxSubmission,
    s.NetworkDoc,
]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF.format(name=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("ErrorDoc"), description)


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema,
        "description": description,
    }


def _query_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_UINT63 = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
#: A query parameter's integer: Python ints, no upper bound (they only select or filter).
_NATURAL = {"type": "integer", "minimum": 0}
_HEX = {"type": "string", "pattern": "^([0-9a-fA-F]{2})*$"}
#: Answers any operation can give: a client error, or 503 while the node is stopping.
_COMMON = {
    "4XX": _error("The request was refused; nothing changed."),
    "503": _error("The node is stopping or stopped on a fatal error."),
}


def _get(summary: str, ok: dict[str, Any], **responses: Any) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": ok, **responses, **_COMMON}}}


def _bytes(description: str, media_type: str, **headers: str) -> dict[str, Any]:
    """A non-JSON answer: ``media_type`` bytes, with string ``headers`` (name -> meaning)."""
    doc: dict[str, Any] = {
        "description": description,
        "content": {media_type: {"schema": {"type": "string"}}},
    }
    if headers:
        doc["headers"] = {
            name: {"description": meaning, "schema": {"type": "string"}}
            for name, meaning in headers.items()
        }
    return doc


def _submission(summary: str, description: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "description": description,
            "requestBody": {
                "required": True,
                "content": {MSGPACK: {"schema": _ref("TxSubmission")}},
            },
            "responses": {
                "202": _json(_ref("TxAcceptedDoc"), "Checked and added to the mempool."),
                "400": _error("Malformed body or transaction."),
                "401": _error("Bad signature."),
                "403": _error("The signer may not send this transaction."),
                "409": _error("Duplicate, replayed nonce or stale base version."),
                "413": _error("Body larger than 32 MiB, or a transaction larger than a block."),
                "422": _error("Well-formed but unusable (shape, NaN...)."),
                **_COMMON,
            },
        }
    }


_SUBMISSION_NOTE = (
    "Body: MessagePack array `[tx, [blob, ...]]`, `tx` an encoded SignedTx and each blob a "
    "byte string (MessagePack `bin`) the transaction references by hash."
)


_BATCH_NOTE = (
    "Body: MessagePack array of submissions `[[tx, [blob, ...]], ...]`, each as the body "
    f"of `POST /v1/txs`; 1 to {MAX_BATCH_TXS} of them. Each transaction is checked and "
    "admitted on its own, in order, and gets its own result (a refused one carries the "
    "status and message a single submission would have got). A body that does not decode, "
    "or an item that is no signed transaction, is refused whole (400 naming the item) and "
    "nothing is admitted. Admitted transactions reach the peers in one gossip message."
)


def _batch_submission() -> dict[str, Any]:
    body = {"type": "array", "items": _ref("TxSubmission"), "minItems": 1}
    body["maxItems"] = MAX_BATCH_TXS
    return {
        "post": {
            "summary": "Submit many signed transactions in one request.",
            "description": _BATCH_NOTE,
            "requestBody": {"required": True, "content": {MSGPACK: {"schema": body}}},
            "responses": {
                "200": _json(_ref("TxBatchResultDoc"), "One result per transaction, in order."),
                "400": _error("Malformed body, a malformed item, or an empty or too long batch."),
                "413": _error("Body larger than 32 MiB."),
                **_COMMON,
            },
        }
    }


def _core_paths() -> dict[str, Any]:
    return {
        "/v1/status": _get(
            "Node id, height, hashes, round and peers.",
            _json(_ref("StatusDoc"), "The node's status."),
        ),
        "/v1/blocks/{height}": {
            "parameters": [_param("height", _UINT63, "Block height (1 is the first block).")],
            **_get(
                "A committed block.",
                _json(_ref("BlockDoc"), "The block."),
                **{"404": _error("No committed block at that height.")},
            ),
        },
        "/v1/txs": _submission("Submit a signed transaction.", _SUBMISSION_NOTE),
        "/v1/tx-batches": _batch_submission(),
        "/v1/txs/{hash}": {
            "parameters": [_param("hash", _HEX, "Transaction hash, hex.")],
            **_get(
                "Where a transaction was committed.",
                _json(_ref("TxLocationDoc"), "Committed at this height and index."),
                **{"404": _json(_ref("PendingErrorDoc"), "Not committed (maybe pending).")},
            ),
        },
        "/": _get(
            "The browser dashboard.",
            _bytes("The dashboard page (it reads the JSON API and /v1/events).", "text/html"),
        ),
        "/dashboard/{path}": {
            "parameters": [
                _param("path", {"type": "string"}, "File under the dashboard's static folder.")
            ],
            **_get(
                "The dashboard's scripts, styles and vendored chart library (static files).",
                _bytes("The file; its media type follows its extension.", "*/*"),
                **{"404": _error("No such file (or a folder, or outside the static folder).")},
            ),
        },
        "/v1/network": _get(
            "Every validator of the network with its status (peers fetched at most once a "
            "second; an unreachable one shows the height it last gossiped).",
            _json(_ref("NetworkDoc"), "The validator set as this node sees it."),
        ),
        "/v1/events": _get(
            "Server-sent events: `hello` on connect, then `block` per committed block, "
            "`version` per released model version and `resync` after a client fell behind.",
            _bytes(
                "A `text/event-stream` that never ends while the node runs; each event's "
                "`data` is one line of JSON. Not fuzzed (it never ends).",
                "text/event-stream",
            ),
            **{"503": _error("Too many event streams on this node, or the node is stopping.")},
        ),
        "/metrics": _get(
            "Prometheus metrics.",
            {
                "description": "Prometheus text exposition format 0.0.4.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
        ),
        OPENAPI_PATH: _get("This document.", _json({"type": "object"}, "OpenAPI 3.1 document.")),
        P2P_PATH: {
            "post": {
                "summary": "Consensus messages from another validator (not for clients).",
                "parameters": [
                    {
                        "name": SENDER_HEADER,
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "Node id of the sending validator.",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        MSGPACK: {
                            "schema": {"type": "array", "items": {"type": "string"}},
                            "example": [],
                        }
                    },
                },
                "responses": {
                    "204": {"description": "Delivered to the node."},
                    "400": _error("Malformed batch."),
                    "403": _error("The sender is not a peer of this node."),
                    **_COMMON,
                },
            }
        },
        STREAM_PATH: {
            "get": {
                "summary": "A validator's persistent message stream (not for clients).",
                "description": "Upgrades to a websocket. Each binary frame is one batch (as "
                "the body of the POST above); the node answers each handled batch with an "
                "empty binary frame and closes the stream (code 1003) on a malformed one.",
                "parameters": [
                    {
                        "name": SENDER_HEADER,
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "Node id of the sending validator.",
                    }
                ],
                "responses": {
                    "101": {"description": "Switching to the websocket protocol."},
                    "403": _error("The sender is not a peer of this node."),
                    **_COMMON,
                },
            }
        },
    }


def _document(app: OpenApiFragment) -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [*_SCHEMA_TYPES, *app.schemas], ref_template=_REF
    )
    paths = {**_core_paths(), **app.paths}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "FLoBC validator API",
            "version": __version__,
            "description": (
                "JSON over HTTP served by every FLoBC validator. Every error is a 4xx (or "
                '503 while stopping) with a JSON body `{"error": message}`; a refused '
                "request changes nothing on the ledger."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": components},
    }


def openapi_document(app: OpenApiFragment | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a validator hosting an application whose part is ``app``
    (:meth:`flobc.node.hosting.NodeApp.openapi`; none: the node's own routes only)."""
    return _document(app or OpenApiFragment())


def openapi_route(app: OpenApiFragment | None = None) -> web.RouteDef:
    """``GET /v1/openapi.json`` serving :func:`openapi_document` (built once)."""
    doc = _document(app or OpenApiFragment())

    async def handle(request: web.Request) -> web.Response:
        return web.json_response(doc)

    return web.get(OPENAPI_PATH, handle)


# Building blocks of the hosted applications' fragments.
COMMON, NATURAL, UINT63, SUBMISSION_NOTE = _COMMON, _NATURAL, _UINT63, _SUBMISSION_NOTE
ref, json_answer, error_answer, bytes_answer = _ref, _json, _error, _bytes
path_param, query_param, get_operation, submission = _param, _query_param, _get, _submission


__all__ = ["OPENAPI_PATH", "openapi_document", "openapi_route"]
