"""The OpenAPI document: it validates, covers every route, matches real answers, and a
bounded Schemathesis run over every operation of a live node finds no 5xx, no crash and
no ledger change."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from live_fl import LiveNet, get, get_text, live_fl_network, upload_update
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families
from schemathesis.specs.openapi.checks import positive_data_acceptance

from flobc.app.fl.state import UpdateInfo
from flobc.app.kvstore import kv_tx
from flobc.crypto.keys import KeyPair
from flobc.encoding import encode
from flobc.node import api, dashboard_api
from flobc.node import api_schemas as docs
from flobc.node.metrics import METRICS_PATH
from flobc.node.openapi import OPENAPI_PATH, openapi_document
from flobc.node.peer_link import P2P_PATH, STREAM_PATH
from flobc.node_apps.fl import api_schemas as fl_docs
from flobc.node_apps.fl.node_app import FLNodeApp

pytestmark = [pytest.mark.processes, pytest.mark.timeout(240)]

DOC = openapi_document(FLNodeApp().openapi())


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNet]:
    with live_fl_network(tmp_path_factory.mktemp("openapi")) as w:
        w.update_id = upload_update(w)  # type: ignore[attr-defined]
        yield w


def test_document_is_valid_openapi_3_1() -> None:
    validate(DOC)  # raises on any violation of the OpenAPI 3.1 schema
    assert DOC["openapi"] == "3.1.0"
    kv = openapi_document()
    validate(kv)
    assert "/v1/models/latest" not in kv["paths"] and "/v1/status" in kv["paths"]


def test_every_served_route_is_documented() -> None:
    tables = [*api.routes, *dashboard_api.routes, *FLNodeApp().routes()]
    # aiohttp's "{name:regex}" is "{name}" in OpenAPI
    served = {(r.method.lower(), re.sub(r"\{(\w+):[^}]*\}", r"{\1}", r.path)) for r in tables}  # type: ignore[attr-defined]
    served |= {("get", METRICS_PATH), ("get", OPENAPI_PATH), ("post", P2P_PATH)}
    served |= {("get", STREAM_PATH)}
    assert ("get", "/v1/subnets") in served  # FL's model subnetworks (node_apps/fl/subnet_api)
    documented = {
        (method, path)
        for path, item in DOC["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    }
    assert served == documented


def http(url: str, data: bytes | None = None) -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get_content_type(), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read()


def check_answer(
    base: str, method: str, template: str, path: str, data: bytes | None = None
) -> Any:
    """Request ``path``; its status must be documented for ``template`` and, for JSON, the
    body must validate against that status's schema. Returns the decoded body."""
    status, ctype, body = http(base + path, data)
    responses = DOC["paths"][template][method]["responses"]
    spec = responses.get(str(status)) or responses[f"{status // 100}XX"]
    assert ctype in spec["content"] or "*/*" in spec["content"], (path, status, ctype)
    if ctype != "application/json":
        return body
    doc = json.loads(body)
    schema = {**spec["content"][ctype]["schema"], "components": DOC["components"]}
    errors = sorted(Draft202012Validator(schema).iter_errors(doc), key=str)
    assert not errors, (path, status, [e.message for e in errors])
    return status, doc


def first_event(base: str) -> str:
    """Open ``/v1/events`` (documented as ``text/event-stream``), return the first event's
    name and hang up: the stream itself never ends."""
    spec = DOC["paths"]["/v1/events"]["get"]["responses"]["200"]
    with urllib.request.urlopen(base + "/v1/events", timeout=10) as resp:
        assert resp.status == 200 and resp.headers.get_content_type() in spec["content"]
        for raw in resp:
            line = raw.decode().strip()
            if line.startswith("event:"):
                data = json.loads(next(resp).decode().removeprefix("data:"))
                assert isinstance(data, dict)
                return line.removeprefix("event:").strip()
    raise AssertionError("the event stream ended")


def test_real_answers_match_their_schemas(network: LiveNet) -> None:
    base, uid = network.url, network.update_id  # type: ignore[attr-defined]
    status, st = check_answer(base, "get", "/v1/status", "/v1/status")
    msgspec.convert(st, docs.StatusDoc)
    _, block = check_answer(base, "get", "/v1/blocks/{height}", "/v1/blocks/1")
    msgspec.convert(block, docs.BlockDoc)
    _, upd = check_answer(base, "get", "/v1/updates/{id}", f"/v1/updates/{uid}")
    assert msgspec.convert(upd, UpdateInfo).votes
    _, loc = check_answer(base, "get", "/v1/txs/{hash}", f"/v1/txs/{uid}")
    msgspec.convert(loc, docs.TxLocationDoc)
    _, latest = check_answer(base, "get", "/v1/models/latest", "/v1/models/latest")
    assert latest["version"] >= 1 and msgspec.convert(latest, fl_docs.VersionDoc)
    check_answer(base, "get", "/v1/models/{version}", "/v1/models/1")
    _, trainers = check_answer(base, "get", "/v1/trainers", "/v1/trainers")
    assert trainers[0]["submitted"] >= 1
    _, rnd = check_answer(base, "get", "/v1/round", "/v1/round")
    assert "updates" not in rnd
    _, rnd = check_answer(base, "get", "/v1/round", "/v1/round?updates=1")
    msgspec.convert(rnd, fl_docs.RoundDoc)
    _, listed = check_answer(base, "get", "/v1/updates", f"/v1/updates?status={upd['status']}")
    assert uid in {u["id"] for u in listed}
    assert msgspec.convert(listed, list[UpdateInfo])
    _, versions = check_answer(base, "get", "/v1/models", "/v1/models?since=0&limit=5")
    assert versions[0]["version"] == 0 and msgspec.convert(
        versions, list[fl_docs.VersionListItemDoc]
    )
    _, netdoc = check_answer(base, "get", "/v1/network", "/v1/network")
    assert msgspec.convert(netdoc, docs.NetworkDoc).validators[0].status is not None
    delta = check_answer(base, "get", "/v1/updates/{id}/delta", f"/v1/updates/{uid}/delta")
    assert isinstance(delta, bytes) and len(delta) == network.size * 4
    page = check_answer(base, "get", "/", "/")
    assert isinstance(page, bytes) and b"<html" in page.lower()
    script = check_answer(base, "get", "/dashboard/{path}", "/dashboard/app.js")
    assert isinstance(script, bytes) and script
    assert first_event(base) == "hello"
    check_answer(base, "get", "/v1/config", "/v1/config")
    assert check_answer(base, "get", "/v1/subnets", "/v1/subnets") == (200, [])
    check_answer(base, "get", OPENAPI_PATH, OPENAPI_PATH)
    weights = check_answer(base, "get", "/v1/models/{version}/weights", "/v1/models/0/weights")
    assert isinstance(weights, bytes) and len(weights) > network.size * 4
    assert "flobc_height" in get_text(base + METRICS_PATH)
    # documented errors, with their schemas
    for template, path, code in [
        ("/v1/blocks/{height}", "/v1/blocks/999999999", 404),
        ("/v1/blocks/{height}", "/v1/blocks/x", 400),
        ("/v1/txs/{hash}", "/v1/txs/" + "ab" * 32, 404),
        ("/v1/txs/{hash}", "/v1/txs/zz", 400),
        ("/v1/models/{version}", "/v1/models/99999", 404),
        ("/v1/models/{version}/weights", "/v1/models/-1/weights", 400),
        ("/v1/models/{version}/weights", "/v1/models/%C2%A08/weights", 400),  # NBSP + 8
        ("/v1/blocks/{height}", "/v1/blocks/9223372036854775808", 400),  # was a 500
        ("/v1/updates/{id}", "/v1/updates/nope", 404),
        ("/v1/updates/{id}/delta", "/v1/updates/nope/delta", 404),
        ("/v1/models", "/v1/models?limit=0", 400),
        ("/v1/models", "/v1/models?since=x", 400),
        ("/v1/updates", "/v1/updates?round=-1", 400),
        ("/dashboard/{path}", "/dashboard/nope.js", 404),
    ]:
        assert check_answer(base, "get", template, path)[0] == code, path
    bad = encode(api.TxSubmission(b"not a tx", [b"x"]))
    for template in ("/v1/txs", "/v1/updates"):
        status, doc = check_answer(base, "post", template, template, bad)
        assert status == 400 and doc["error"], doc
    batches = "/v1/tx-batches"
    status, doc = check_answer(
        base, "post", batches, batches, encode([api.TxSubmission(b"not a tx", [])])
    )
    assert status == 400 and doc["error"].startswith("txs[0]: malformed"), doc
    foreign = kv_tx(network.chain, KeyPair.generate(), "k", "v", 1).encoded()
    status, doc = check_answer(base, "post", batches, batches, encode([[foreign, []]]))
    assert status == 200 and doc["accepted"] == 0, doc
    [result] = msgspec.convert(doc, docs.TxBatchResultDoc).results
    assert result.status == "rejected" and result.code and 400 <= result.code < 500
    assert get(base + "/v1/status")["mempool"] == 0


# ---------------------------------------------------------------------- Schemathesis

#: ``GET /v1/events`` never ends (server-sent events): not fuzzed, checked by
#: :func:`first_event` instead.
SCHEMA = schemathesis.openapi.from_dict(DOC).exclude(path="/v1/events")
#: Examples per operation and phase; 21 operations, about a minute in all.
FUZZ_EXAMPLES = 25


def _as_bytes(value: Any) -> Any:
    """Generated JSON-like bodies go out as MessagePack, text as ``bin`` (the wire format)."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return str(value).encode()  # MessagePack has no such integers
    if isinstance(value, list):
        return [_as_bytes(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_bytes(v) for k, v in value.items()}
    return value


@schemathesis.serializer("application/msgpack")
def _msgpack(ctx: Any, value: Any) -> bytes:
    return encode(_as_bytes(value))


def answers(w: LiveNet) -> float:
    """How many requests the node has answered (its own counter, all status classes)."""
    families = text_string_to_metric_families(get_text(w.url + METRICS_PATH))
    family = next(f for f in families if f.name == "flobc_http_responses")
    return sum(s.value for s in family.samples)


def ledger(w: LiveNet) -> Any:
    """What a refused request must not change: trainers, update totals, committed txs."""
    metrics = get_text(w.url + METRICS_PATH)
    committed = next(
        line for line in metrics.splitlines() if line.startswith("flobc_transactions_committed")
    )
    trainers = [
        {k: v for k, v in t.items() if k != "round_status"} for t in get(w.url + "/v1/trainers")
    ]
    return trainers, committed, get(w.url + "/v1/status")["mempool"]


@pytest.fixture(scope="module")
def before_fuzz(network: LiveNet) -> Any:
    return ledger(network), answers(network)


@SCHEMA.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_fuzz_every_operation(case: Any, network: LiveNet, before_fuzz: Any) -> None:
    response = case.call(base_url=network.url, timeout=15)
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
    # A body can match the schema and still be no signed transaction: 400 is right there.
    skip = [positive_data_acceptance] if case.method == "POST" else []
    case.validate_response(response, excluded_checks=skip)


def test_fuzzing_changed_nothing(network: LiveNet, before_fuzz: Any) -> None:
    before, answered = before_fuzz
    assert get(network.url + "/v1/status")["height"] > 0  # still up
    assert ledger(network) == before
    assert answers(network) - answered > 200  # the fuzzing did reach the node
