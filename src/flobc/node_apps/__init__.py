"""The applications a validator can host, each behind the node's plug-in interface
(:class:`flobc.node.hosting.NodeApp`): federated learning (:mod:`flobc.node_apps.fl`) and
the key-value store the consensus tests run (:mod:`flobc.node_apps.kv`).

This layer sits above the generic node (it imports :mod:`flobc.node` and :mod:`flobc.app`)
and below the runtimes that start networks (orchestration, simulator, CLI, experiments).
"""

from __future__ import annotations

from typing import Any

from flobc.node.hosting import NodeApp, hosted_app, registry_of
from flobc.node_apps.fl.node_app import FLNodeApp
from flobc.node_apps.kv import KVNodeApp

#: Hosted application name (the genesis' ``app_state["app"]``) -> its plug-in.
NODE_APPS = registry_of(KVNodeApp, FLNodeApp)


def node_app_for(app_state: dict[str, Any]) -> NodeApp:
    """The plug-in of the application a genesis ``app_state`` selects."""
    return hosted_app(NODE_APPS, app_state)


__all__ = ["NODE_APPS", "node_app_for"]
