"""The validator's JSON-over-HTTP API for clients: status, blocks, transactions."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from flobc.chain.types import CommittedBlock, SignedTx, tx_hash
from flobc.encoding import DecodeError, decode
from flobc.node.http_errors import ApiError, read_body
from flobc.node.http_runtime import RUNTIME_KEY
from flobc.node.validator import ValidatorNode

#: Largest accepted client request (a transaction and the blobs it references).
MAX_SUBMISSION_BYTES = 32 * 1024 * 1024
#: Most transactions in one ``POST /v1/tx-batches``.
MAX_BATCH_TXS = 1000


class TxSubmission(msgspec.Struct, array_like=True, frozen=True, forbid_unknown_fields=True):
    """Body of ``POST /v1/txs``: an encoded SignedTx and the blobs it references."""

    tx: bytes
    blobs: list[bytes] = []


#: Body of ``POST /v1/tx-batches``: submissions, each checked and admitted on its own.
TxBatch = list[TxSubmission]

routes = web.RouteTableDef()


def block_json(cb: CommittedBlock) -> dict[str, Any]:
    """A committed block for clients: header fields, tx hashes and commit signatures, hex."""
    header = cb.block.header
    return {
        "hash": cb.block.hash.hex(),
        "header": {
            name: (v.hex() if isinstance(v := getattr(header, name), bytes) else v)
            for name in header.__struct_fields__
        },
        "tx_hashes": [tx_hash(t).hex() for t in cb.block.txs],
        "commit": {
            "round": cb.commit.round,
            "signatures": [
                {"validator": s.validator, "time_ms": s.time_ms, "signature": s.signature.hex()}
                for s in cb.commit.signatures
            ],
        },
    }


_DIGITS = re.compile(r"[0-9]{1,19}")


def path_int(request: web.Request, name: str) -> int:
    """A path parameter as an int in [0, 2^63): plain ASCII digits only.

    ``int()`` alone would take " 8", "8_0" or non-ASCII digits, and a value past int64
    crashes SQLite (a 500), both found by fuzzing.
    """
    raw = request.match_info[name]
    if not _DIGITS.fullmatch(raw) or (value := int(raw)) >= 2**63:
        raise ApiError(400, f"{name} must be an integer between 0 and 2^63-1")
    return value


@routes.get("/v1/status")
async def status(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME_KEY]
    return web.json_response(await rt.call(lambda node, now: (node.status(), [])))


@routes.get("/v1/blocks/{height}")
async def block(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME_KEY]
    h = path_int(request, "height")
    cb = await rt.call(lambda node, now: (node.store.committed_block(h), []))
    doc = None if cb is None else block_json(cb)
    if doc is None:
        raise ApiError(404, f"no committed block at height {h}")
    return web.json_response(doc)


@routes.post("/v1/txs")
async def submit(request: web.Request) -> web.Response:
    body = await read_body(request, MAX_SUBMISSION_BYTES)
    sub = decode(body, TxSubmission, max_bytes=MAX_SUBMISSION_BYTES)
    return await submit_and_respond(request, sub.tx, sub.blobs)


async def submit_and_respond(request: web.Request, raw: bytes, blobs: list[bytes]) -> web.Response:
    """Hand a transaction to the node; 202 with its hash once the blobs it came with are
    durable here (the fsyncs run off the event loop), or the app's 4xx as JSON. Without
    blobs there is nothing to wait for (the mempool is memory), so no answer waits on an
    unrelated fsync that is under way, such as a vote's."""
    rt = request.app[RUNTIME_KEY]

    def call(node: ValidatorNode, now: int) -> tuple[Any, list[Any]]:
        return node.submit_tx(raw, blobs, now)

    check = await rt.call(call)
    if not check.ok:
        raise ApiError(check.code, check.message)
    if blobs:
        await rt.durable()
    return web.json_response({"hash": tx_hash(raw).hex(), "status": "accepted"}, status=202)


@routes.post("/v1/tx-batches")
async def submit_batch(request: web.Request) -> web.Response:
    """Many transactions in one request: one HTTP exchange, one event-loop call and one
    gossip message for all of them (a request per transaction cost a quarter of a
    validator's CPU under load). Each is checked on its own and gets its own result; a
    body that does not decode, or any item that is no transaction, admits nothing."""
    body = await read_body(request, MAX_SUBMISSION_BYTES)
    subs = decode(body, TxBatch, max_bytes=MAX_SUBMISSION_BYTES)
    if not 1 <= len(subs) <= MAX_BATCH_TXS:
        raise ApiError(400, f"a batch holds 1 to {MAX_BATCH_TXS} transactions, not {len(subs)}")
    items: list[tuple[bytes, SignedTx, list[bytes]]] = []
    for i, sub in enumerate(subs):
        try:
            items.append((sub.tx, decode(sub.tx, SignedTx), sub.blobs))
        except DecodeError as exc:
            raise ApiError(400, f"txs[{i}]: malformed transaction: {exc}", index=i) from exc
    rt = request.app[RUNTIME_KEY]
    checks = await rt.call(lambda node, now: node.submit_txs(items, now))
    results: list[dict[str, Any]] = []
    for (raw, _, _), check in zip(items, checks, strict=True):
        doc: dict[str, Any] = {"hash": tx_hash(raw).hex()}
        if check.ok:
            doc["status"] = "accepted"
        else:
            doc.update(status="rejected", code=check.code, error=check.message)
        results.append(doc)
    accepted = sum(c.ok for c in checks)
    if any(c.ok and blobs for c, (_, _, blobs) in zip(checks, items, strict=True)):
        await rt.durable()
    return web.json_response({"accepted": accepted, "results": results})


@routes.get("/v1/txs/{hash}")
async def tx_status(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME_KEY]
    try:
        th = bytes.fromhex(request.match_info["hash"])
    except ValueError as exc:
        raise ApiError(400, "hash must be hex") from exc
    loc = await rt.call(lambda node, now: (node.store.tx_location(th), []))
    if loc is None:
        pending = await rt.call(lambda node, now: (th in node.mempool, []))
        raise ApiError(404, "pending" if pending else "unknown transaction", pending=pending)
    return web.json_response({"hash": th.hex(), "height": loc[0], "index": loc[1]})
