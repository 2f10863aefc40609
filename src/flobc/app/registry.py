"""The applications a chain can run, one class each, chosen by the genesis'
``app_state["app"]``: the name is each class's ``name`` attribute, written here once."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from flobc.app.abci import Application
from flobc.app.fl.composite import FLEntry
from flobc.app.kvstore import KVStoreApp
from flobc.chain.genesis import Genesis


class GenesisApplication(Protocol):
    """An application class the registry can build from a genesis."""

    #: what the genesis' ``app_state["app"]`` says to select this application
    name: ClassVar[str]

    @classmethod
    def from_genesis(cls, genesis: Genesis, blobs: Any) -> Application: ...


#: Application name -> class.
APPLICATIONS: dict[str, type[GenesisApplication]] = {cls.name: cls for cls in (KVStoreApp, FLEntry)}
#: The application of a genesis that names none (the consensus tests' key-value store).
DEFAULT_APP = KVStoreApp.name


def app_name(app_state: dict[str, Any]) -> str:
    """The application a genesis ``app_state`` selects (``DEFAULT_APP`` when it names none)."""
    name = app_state.get("app", DEFAULT_APP)
    if name not in APPLICATIONS:
        known = ", ".join(sorted(APPLICATIONS))
        raise ValueError(f"unknown application {name!r} in genesis app_state (known: {known})")
    return str(name)


def make_app(genesis: Genesis, blobs: Any) -> Application:
    """The application ``genesis`` selects, built from it."""
    return APPLICATIONS[app_name(genesis.app_state)].from_genesis(genesis, blobs)
