"""Start a validator process from its home folder: open storage, build the node, serve HTTP."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from flobc.app.registry import make_app
from flobc.node.api import MAX_SUBMISSION_BYTES
from flobc.node.api import routes as core_routes
from flobc.node.home import OpenedHome, open_home
from flobc.node.http_runtime import HttpRuntime, run
from flobc.node.validator import NodeConfig, ValidatorNode


def build_validator(home: Path) -> tuple[HttpRuntime[ValidatorNode], OpenedHome]:
    """The validator of ``home`` wrapped in its HTTP runtime (not started yet)."""
    opened = open_home(home)
    s, g = opened.settings, opened.genesis
    node = ValidatorNode(
        g,
        opened.key,
        make_app(g, opened.blobs),
        store=opened.store,
        blobs=opened.blobs,
        consensus_log=opened.consensus_log,
        config=NodeConfig(gossip_interval_ms=s.gossip_interval_ms),
    )
    peers = {v.address.hex(): v.url for v in g.validators if v.url}
    routes = list(core_routes)
    if g.app_state.get("app") == "fl":
        from flobc.node.fl_api import routes as fl_routes

        routes += list(fl_routes)
    runtime = HttpRuntime(
        node, peers, s.host, s.port, extra_routes=routes, max_body=MAX_SUBMISSION_BYTES
    )
    return runtime, opened


def run_validator(home: Path) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit status."""
    runtime, opened = build_validator(home)
    logging.basicConfig(
        level=opened.settings.log_level,
        stream=sys.stderr,
        format=f"%(asctime)s {opened.settings.name} %(levelname)s %(name)s: %(message)s",
    )
    try:
        return run(runtime)
    finally:
        opened.close()


__all__ = ["build_validator", "run_validator"]
