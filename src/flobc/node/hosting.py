"""How the generic validator node hosts an application: one :class:`NodeApp` subclass per
application, selected by the genesis' application name.

The node (consensus, mempool, gossip, block sync, data availability, HTTP) knows no
application. A plug-in gives it what is specific to one: the ABCI application built from
the genesis, its API routes and their OpenAPI paths, side workers run next to a validator
(FL's evaluator), metrics, events for the dashboard stream, and the genesis section a
network folder starts from. The plug-ins themselves live above the node
(:mod:`flobc.node_apps`), which hands their registry to :func:`flobc.node.launch.build_validator`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web
from prometheus_client.core import Metric

from flobc.app.abci import Application
from flobc.app.registry import GenesisApplication, app_name
from flobc.chain.genesis import Genesis
from flobc.crypto.keys import KeyPair
from flobc.node.home import NodeSettings
from flobc.node.http_runtime import HttpRuntime
from flobc.node.validator import ValidatorNode


@dataclass(frozen=True)
class OpenApiFragment:
    """An application's part of the validator's OpenAPI document."""

    #: path -> path item, as in an OpenAPI ``paths`` object
    paths: dict[str, Any] = field(default_factory=dict)
    #: msgspec structs (or other types msgspec can describe) whose schemas ``paths`` refer to
    schemas: tuple[Any, ...] = ()


class EventFeed:
    """What a hosted application adds to the validator's ``/v1/events`` stream (nothing,
    by default). One feed per validator: it may remember what it already announced."""

    def head(self, app: Application) -> dict[str, Any]:
        """Fields added to every ``hello`` and ``block`` event."""
        return {}

    def new_events(self, app: Application) -> list[tuple[str, dict[str, Any]]]:
        """(kind, data) of each event since the last call; called once per commit."""
        return []


class NodeApp:
    """The node-side plug-in of one application. Subclasses set :attr:`application`; their
    :attr:`name` is that class's name, the value of the genesis' ``app_state["app"]``."""

    application: ClassVar[type[GenesisApplication]]
    name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "application" in cls.__dict__:
            cls.name = cls.application.name

    def make_app(self, genesis: Genesis, blobs: Any) -> Application:
        """The ABCI application ``genesis`` starts."""
        return self.application.from_genesis(genesis, blobs)

    def check_genesis(self, app_state: dict[str, Any]) -> None:
        """Raise ValueError, naming the field, if ``app_state`` is not a valid section."""

    def complete_genesis(
        self, app_state: dict[str, Any], members: Sequence[tuple[str, bytes]]
    ) -> dict[str, Any]:
        """``app_state`` with the network's non-validator ``members`` (role, public key) filled
        in, when a network folder is written; unchanged by default."""
        return app_state

    def routes(self) -> list[web.AbstractRouteDef]:
        """The application's HTTP routes, served next to the node's own."""
        return []

    def openapi(self) -> OpenApiFragment:
        """The OpenAPI paths (and schemas) of :meth:`routes`."""
        return OpenApiFragment()

    def attach(
        self, runtime: HttpRuntime[ValidatorNode], settings: NodeSettings, key: KeyPair
    ) -> None:
        """Start side workers next to the validator (before it serves); none by default."""

    def dashboard_metric(self, settings: NodeSettings) -> str | None:
        """The metric the dashboard charts (its name), if any."""
        return None

    def event_feed(self, app: Application) -> EventFeed:
        """The feed of this application's events for one validator."""
        return EventFeed()

    def metrics(self, app: Application) -> Iterator[Metric]:
        """Prometheus metrics read from the committed state at scrape time."""
        return iter(())


#: Hosted application name -> its plug-in class.
NodeAppRegistry = Mapping[str, type[NodeApp]]


def registry_of(*apps: type[NodeApp]) -> dict[str, type[NodeApp]]:
    """A registry keyed by each plug-in's name (two plug-ins may not share one)."""
    out: dict[str, type[NodeApp]] = {}
    for cls in apps:
        if cls.name in out:
            raise ValueError(f"two node apps named {cls.name!r}")
        out[cls.name] = cls
    return out


def hosted_app(registry: NodeAppRegistry, app_state: dict[str, Any]) -> NodeApp:
    """The plug-in of the application ``app_state`` selects; ValueError if none hosts it."""
    name = app_name(app_state)
    if name not in registry:
        hosted = ", ".join(sorted(registry))
        raise ValueError(f"this node hosts no application {name!r} (it hosts: {hosted})")
    return registry[name]()


__all__ = [
    "EventFeed",
    "NodeApp",
    "NodeAppRegistry",
    "OpenApiFragment",
    "hosted_app",
    "registry_of",
]
