"""Start a validator process from its home folder: open storage, build the node, serve HTTP."""

from __future__ import annotations

from pathlib import Path

from flobc.app.registry import make_app
from flobc.node.api import MAX_SUBMISSION_BYTES
from flobc.node.api import routes as core_routes
from flobc.node.dashboard_api import attach_dashboard
from flobc.node.dashboard_api import fl_routes as dashboard_fl_routes
from flobc.node.dashboard_api import routes as dashboard_routes
from flobc.node.home import OpenedHome, open_home
from flobc.node.http_runtime import HttpRuntime, run
from flobc.node.logfmt import LogFormat, configure_logging
from flobc.node.metrics import NodeMetrics
from flobc.node.openapi import openapi_route
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
    fl = g.app_state.get("app") == "fl"
    metrics = NodeMetrics(node)
    routes = [*core_routes, *dashboard_routes, metrics.route, openapi_route(fl=fl)]
    if fl:
        from flobc.node.fl_api import routes as fl_routes

        routes += list(fl_routes) + list(dashboard_fl_routes)
    runtime = HttpRuntime(
        node,
        peers,
        s.host,
        s.port,
        extra_routes=routes,
        max_body=MAX_SUBMISSION_BYTES,
        durability=opened.consensus_log.wal,
    )
    runtime.middlewares.append(metrics.middleware)
    metric = None
    if g.app_state.get("app") == "fl" and "fl" in s.extra:
        from flobc.node.fl_settings import FLRunConfig
        from flobc.node.fl_workers import attach_evaluator

        fl_cfg = FLRunConfig.model_validate(s.extra["fl"])
        attach_evaluator(runtime, fl_cfg, int(s.extra["index"]), opened.key)
        metric = fl_cfg.training.metric
    attach_dashboard(runtime, metric)
    return runtime, opened


def run_trainer_home(home: Path, flower: str | None = None, log_format: LogFormat = "text") -> int:
    """Run the trainer of ``home`` until SIGTERM/SIGINT; ``flower`` ("pkg.module:client_fn"
    or a ClientApp) overrides ``[training] flower_client``."""
    import asyncio
    import contextlib
    import signal

    from flobc.chain.genesis import Genesis
    from flobc.crypto.keys import KeyPair
    from flobc.node.fl_settings import FLRunConfig
    from flobc.node.fl_workers import run_trainer
    from flobc.node.home import GENESIS_FILE, KEY_FILE, HomeError, load_settings

    s = load_settings(home)
    if s.role != "trainer" or "fl" not in s.extra:
        raise HomeError(f"{home} is not a trainer home")
    configure_logging(s.name, s.log_level, log_format)
    raw = dict(s.extra["fl"])
    if flower:
        raw["training"] = {**raw.get("training", {}), "flower_client": flower}
    cfg = FLRunConfig.model_validate(raw)
    genesis = Genesis.load(home / GENESIS_FILE)
    key = KeyPair.load(home / KEY_FILE)

    async def main() -> None:
        task = asyncio.ensure_future(
            run_trainer(cfg, int(s.extra["index"]), key, genesis.chain_id, s.validators)
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    return 0


def run_validator(home: Path, log_format: LogFormat = "text") -> int:
    """Run until SIGTERM/SIGINT; returns the process exit status."""
    runtime, opened = build_validator(home)
    configure_logging(opened.settings.name, opened.settings.log_level, log_format)
    try:
        return run(runtime)
    finally:
        opened.close()


__all__ = ["build_validator", "run_trainer_home", "run_validator"]
