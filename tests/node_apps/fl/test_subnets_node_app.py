"""FL's node plug-in on a network of model subnetworks: the app it builds, its genesis
check, OpenAPI fragment, metrics (labelled by subnet) and event feed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from flobc.app.fl.app import FLApp
from flobc.app.fl.composite import SubnetsApp
from flobc.chain.blobs import MemoryBlobStore
from flobc.chain.genesis import Genesis
from flobc.chain.validators import Validator
from flobc.node.openapi import openapi_document
from flobc.node_apps.fl.node_app import FLNodeApp
from flobc.sim.fl_fixtures import GENESIS_MS, f32, toy_fl_config
from flobc.sim.ledger import sim_keys
from flobc.weights_codec import encode_vector

V = sim_keys(2, 0, "validator")
T = sim_keys(2, 0, "trainer")
W_A = f32(np.linspace(-1, 1, 4))
W_B = f32(np.linspace(0, 1, 6))


def subnets_state() -> dict[str, Any]:
    a = {"name": "a", "validators": [V[0].public_key.hex()]}
    a |= toy_fl_config(W_A, [T[0].public_key.hex()])
    b = {"name": "b", "validators": [V[1].public_key.hex()]}
    b |= toy_fl_config(W_B, [T[1].public_key.hex()])
    return {"app": "fl", "fl": {"subnets": [a, b]}}


def build(hosted: FLNodeApp) -> Any:
    blobs = MemoryBlobStore()
    blobs.put(encode_vector(W_A))
    blobs.put(encode_vector(W_B))
    g = Genesis(
        chain_id="c",
        genesis_time_ms=GENESIS_MS,
        validators=[Validator(k.public_key) for k in V],
        app_state=subnets_state(),
    )
    return hosted.make_app(g, blobs)


def test_a_subnets_genesis_builds_a_subnets_app_and_names_them_in_openapi() -> None:
    hosted = FLNodeApp()
    assert hosted.subnets == ()
    single = openapi_document(hosted.openapi())
    assert "/v1/subnets" in single["paths"]
    params = single["paths"]["/v1/trainers"]["get"].get("parameters", [])
    assert all(p["name"] != "subnet" for p in params)

    app = build(hosted)
    assert isinstance(app, SubnetsApp) and isinstance(app.subnet("a"), FLApp)
    assert hosted.subnets == ("a", "b")
    doc = openapi_document(hosted.openapi())
    (param,) = [
        p for p in doc["paths"]["/v1/trainers"]["get"]["parameters"] if p["name"] == "subnet"
    ]
    assert param["required"] and param["schema"]["enum"] == ["a", "b"]
    assert "SubnetDoc" in doc["components"]["schemas"]


def test_check_genesis_reads_every_subnet_config() -> None:
    hosted = FLNodeApp()
    state = subnets_state()
    hosted.check_genesis(state)
    state["fl"]["subnets"][1]["no_such_field"] = 1
    with pytest.raises(ValueError, match=r"fl\.subnets\[1\]"):
        hosted.check_genesis(state)


def test_metrics_carry_a_subnet_label_and_events_name_no_single_version() -> None:
    hosted = FLNodeApp()
    app = build(hosted)
    families = {m.name: m for m in hosted.metrics(app)}
    version = families["flobc_model_version"]
    assert sorted(s.labels["subnet"] for s in version.samples) == ["a", "b"]
    trust = families["flobc_trainer_trust"]
    assert {s.labels["subnet"] for s in trust.samples} == {"a", "b"}
    feed = hosted.event_feed(app)
    assert feed.head(app) == {"version": None, "round": None}
    assert feed.new_events(app) == []
