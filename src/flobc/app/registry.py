"""Choose the application a network runs from its genesis ``app_state["app"]``."""

from __future__ import annotations

from typing import Any

from flobc.app.abci import Application
from flobc.app.kvstore import KVStoreApp
from flobc.chain.genesis import Genesis


def make_app(genesis: Genesis, blobs: Any) -> Application:
    """``"kv"`` (the default) is the test key-value store; ``"fl"`` is federated learning: one
    model, or several model subnetworks when the genesis declares ``fl.subnets``."""
    name = genesis.app_state.get("app", "kv")
    if name == "kv":
        return KVStoreApp(genesis.chain_id)
    if name == "fl":
        from flobc.app.fl.app import FLApp
        from flobc.app.fl.composite import SubnetsApp
        from flobc.app.fl.subnets import has_subnets

        if has_subnets(genesis.app_state):
            return SubnetsApp(genesis, blobs)
        return FLApp(genesis, blobs)
    raise ValueError(f"unknown application {name!r} in genesis app_state")
