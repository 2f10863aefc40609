"""Start an FL trainer process from its home folder (trainers are FL's own role; the
validators of every application start through :mod:`flobc.node.launch`)."""

from __future__ import annotations

from pathlib import Path

from flobc.node.logfmt import LogFormat, configure_logging


def run_trainer_home(home: Path, flower: str | None = None, log_format: LogFormat = "text") -> int:
    """Run the trainer of ``home`` until SIGTERM/SIGINT; ``flower`` ("pkg.module:client_fn"
    or a ClientApp) overrides ``[training] flower_client``."""
    import asyncio
    import contextlib
    import signal

    from flobc.chain.genesis import Genesis
    from flobc.crypto.keys import KeyPair
    from flobc.node.home import GENESIS_FILE, KEY_FILE, HomeError, load_settings
    from flobc.node_apps.fl.settings import FLRunConfig
    from flobc.node_apps.fl.workers import run_trainer

    s = load_settings(home)
    if s.role != "trainer" or "fl" not in s.extra:
        raise HomeError(f"{home} is not a trainer home")
    configure_logging(s.name, s.log_level, log_format)
    raw = dict(s.extra["fl"])
    if flower:
        raw["training"] = {**raw.get("training", {}), "flower_client": flower}
    cfg = FLRunConfig.model_validate(raw)
    subnet = s.extra.get("subnet")  # a trainer of one model subnetwork
    if subnet is not None:
        from flobc.node_apps.fl.subnets import run_of

        cfg = run_of(cfg, subnet).cfg
    genesis = Genesis.load(home / GENESIS_FILE)
    key = KeyPair.load(home / KEY_FILE)

    async def main() -> None:
        task = asyncio.ensure_future(
            run_trainer(
                cfg, int(s.extra["index"]), key, genesis.chain_id, s.validators, subnet=subnet
            )
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    return 0


__all__ = ["run_trainer_home"]
