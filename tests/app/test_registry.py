"""The application registry: one class per application, chosen by the genesis' app name."""

from __future__ import annotations

import pytest

from flobc.app.fl.app import FLApp
from flobc.app.fl.composite import FLEntry
from flobc.app.kvstore import KVStoreApp
from flobc.app.registry import APPLICATIONS, DEFAULT_APP, app_name, make_app
from flobc.chain.blobs import MemoryBlobStore
from flobc.chain.genesis import Genesis
from flobc.sim.fl_fixtures import AppDriver


def test_names_live_on_the_classes() -> None:
    # FL's entry builds one FLApp, or a SubnetsApp for model subnetworks
    assert {"kv": KVStoreApp, "fl": FLEntry} == APPLICATIONS
    assert FLEntry.name == FLApp.name == "fl"
    assert KVStoreApp.name == DEFAULT_APP


def test_a_genesis_that_names_no_app_runs_the_kv_store() -> None:
    g = Genesis(chain_id="c", genesis_time_ms=0, validators=[], app_state={})
    app = make_app(g, MemoryBlobStore())
    assert isinstance(app, KVStoreApp) and app.chain_id == "c"


def test_fl_genesis_builds_the_fl_app() -> None:
    d = AppDriver()
    app = make_app(d.genesis, d.blobs)
    assert isinstance(app, FLApp) and app.info() == d.app.info()


def test_unknown_app_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown application 'chess'.*known: fl, kv"):
        app_name({"app": "chess"})
