"""Run an :class:`~flobc.node.http_runtime.HttpRuntime` as a process's main loop: until
SIGTERM/SIGINT or a fatal error, with the exit status the CLI returns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from typing import Any

from flobc.node.http_runtime import HttpRuntime
from flobc.node.malloc import keep_large_allocations

logger = logging.getLogger("flobc.http")


def run(runtime: HttpRuntime[Any]) -> int:
    """Run ``runtime`` until SIGTERM/SIGINT or a fatal error; return the exit status.

    For CLI entry points: ``sys.exit(run(runtime))``. Must be called from the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("run() installs signal handlers and must run on the main thread")
    keep_large_allocations()  # multi-MB updates are copied a few times each
    sigs = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.getsignal(sig) for sig in sigs}

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in sigs:
            loop.add_signal_handler(sig, _on_signal, runtime, sig)
        try:
            return await runtime.run_forever()
        finally:
            for sig in sigs:
                loop.remove_signal_handler(sig)
            await runtime.stop()

    try:
        return asyncio.run(main())
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(sig, handler)


def _on_signal(runtime: HttpRuntime[Any], sig: signal.Signals) -> None:
    logger.info("received %s; stopping node %s", sig.name, runtime.process.node_id)
    runtime.request_stop()
