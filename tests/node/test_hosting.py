"""The plug-in interface of the generic node: names come from the application classes, a
registry refuses two plug-ins of one name, and a node refuses a genesis it cannot host."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from flobc.app.kvstore import KVStoreApp
from flobc.chain.blobs import MemoryBlobStore
from flobc.chain.genesis import Genesis
from flobc.node.home import HomeError
from flobc.node.hosting import EventFeed, NodeApp, OpenApiFragment, hosted_app, registry_of
from flobc.node.launch import build_validator
from flobc.node.openapi import openapi_document
from flobc.orchestration.netdir import create_network


class Plain(NodeApp):
    application = KVStoreApp


class AlsoKV(NodeApp):
    application = KVStoreApp


def test_name_is_the_application_class_name() -> None:
    assert Plain.name == KVStoreApp.name == "kv"


def test_defaults_add_nothing_to_the_node() -> None:
    p = Plain()
    g = Genesis(chain_id="c", genesis_time_ms=0, validators=[], app_state={"app": "kv"})
    app = p.make_app(g, MemoryBlobStore())
    assert isinstance(app, KVStoreApp)
    assert p.routes() == [] and p.openapi() == OpenApiFragment()
    assert list(p.metrics(app)) == [] and p.dashboard_metric(None) is None  # type: ignore[arg-type]
    feed = p.event_feed(app)
    assert type(feed) is EventFeed and feed.head(app) == {} and feed.new_events(app) == []
    assert p.complete_genesis({"app": "kv"}, [("trainer", b"k")]) == {"app": "kv"}


def test_registry_refuses_two_plugins_of_one_name() -> None:
    with pytest.raises(ValueError, match="two node apps named 'kv'"):
        registry_of(Plain, AlsoKV)


def test_unhosted_application_is_named() -> None:
    reg = registry_of(Plain)
    assert isinstance(hosted_app(reg, {}), Plain)  # no name: the default (kv)
    with pytest.raises(ValueError, match=r"hosts no application 'fl' \(it hosts: kv\)"):
        hosted_app(reg, {"app": "fl"})
    with pytest.raises(ValueError, match="unknown application 'chess'"):
        hosted_app(reg, {"app": "chess"})


def test_build_validator_refuses_a_genesis_it_cannot_host(tmp_path: Path) -> None:
    create_network(tmp_path / "net", validators=1)
    with pytest.raises(HomeError, match="hosts no application 'kv'"):
        build_validator(tmp_path / "net" / "validator-0", {})


class ThingDoc(msgspec.Struct):
    size: int


def test_openapi_fragment_adds_paths_and_schemas() -> None:
    bare = openapi_document()
    frag = OpenApiFragment(
        paths={"/v1/thing": {"get": {"responses": {"200": {"description": "ok"}}}}},
        schemas=(ThingDoc,),
    )
    doc = openapi_document(frag)
    assert set(doc["paths"]) == set(bare["paths"]) | {"/v1/thing"}
    assert set(doc["components"]["schemas"]) == set(bare["components"]["schemas"]) | {"ThingDoc"}
