"""The key-value test application on a validator: the node's defaults (no routes, workers,
metrics or events of its own), so every KV network exercises the bare generic node."""

from __future__ import annotations

from flobc.app.kvstore import KVStoreApp
from flobc.node.hosting import NodeApp


class KVNodeApp(NodeApp):
    application = KVStoreApp


__all__ = ["KVNodeApp"]
