"""Start a validator process from its home folder: open storage, build the node, serve HTTP.

The node hosts the application its genesis names, through that application's plug-in
(:class:`~flobc.node.hosting.NodeApp`) from the registry the caller passes.
"""

from __future__ import annotations

from pathlib import Path

from flobc.node.api import MAX_SUBMISSION_BYTES
from flobc.node.api import routes as core_routes
from flobc.node.dashboard_api import attach_dashboard
from flobc.node.dashboard_api import routes as dashboard_routes
from flobc.node.home import GENESIS_FILE, HomeError, OpenedHome, open_home
from flobc.node.hosting import NodeAppRegistry, hosted_app
from flobc.node.http_runtime import HttpRuntime
from flobc.node.logfmt import LogFormat, configure_logging
from flobc.node.metrics import NodeMetrics
from flobc.node.openapi import openapi_route
from flobc.node.serve import run
from flobc.node.sync_group import SyncGroup
from flobc.node.validator import NodeConfig, ValidatorNode


def build_validator(
    home: Path, apps: NodeAppRegistry
) -> tuple[HttpRuntime[ValidatorNode], OpenedHome]:
    """The validator of ``home``, hosting its genesis' application from ``apps``, wrapped
    in its HTTP runtime (not started yet)."""
    opened = open_home(home)
    s, g = opened.settings, opened.genesis
    try:
        hosted = hosted_app(apps, g.app_state)
    except ValueError as exc:
        opened.close()
        raise HomeError(f"{home}: {exc}") from exc
    try:
        app = hosted.make_app(g, opened.blobs)
    except ValueError as exc:  # a genesis the application refuses to start from
        opened.close()
        raise HomeError(f"{home / GENESIS_FILE}: {exc}") from exc
    node = ValidatorNode(
        g,
        opened.key,
        app,
        store=opened.store,
        blobs=opened.blobs,
        consensus_log=opened.consensus_log,
        config=NodeConfig(gossip_interval_ms=s.gossip_interval_ms),
    )
    peers = {v.address.hex(): v.url for v in g.validators if v.url}
    metrics = NodeMetrics(node, hosted.metrics)
    routes = [*core_routes, *dashboard_routes, metrics.route, openapi_route(hosted.openapi())]
    routes += hosted.routes()
    runtime = HttpRuntime(
        node,
        peers,
        s.host,
        s.port,
        extra_routes=routes,
        max_body=MAX_SUBMISSION_BYTES,
        # the writer thread fsyncs both; messages and upload answers wait for it
        durability=SyncGroup([opened.consensus_log.wal, opened.blobs]),
    )
    runtime.middlewares.append(metrics.middleware)
    hosted.attach(runtime, s, opened.key)
    attach_dashboard(runtime, hosted.dashboard_metric(s), hosted.event_feed(node.app))
    return runtime, opened


def run_validator(home: Path, apps: NodeAppRegistry, log_format: LogFormat = "text") -> int:
    """Run until SIGTERM/SIGINT; returns the process exit status."""
    runtime, opened = build_validator(home, apps)
    configure_logging(opened.settings.name, opened.settings.log_level, log_format)
    try:
        return run(runtime)
    finally:
        opened.close()


__all__ = ["build_validator", "run_validator"]
