"""Ending asyncio tasks: cancel them and wait until they have really finished.

A task that is only cancelled may still run its ``finally`` (closing a socket, releasing
a stream) after the caller moved on, and an exception it ended with would be reported
as never retrieved; every owner of a task in the node runtime ends it through here.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel each task (``None`` entries skipped) and return once all have finished.

    What the tasks ended with (``CancelledError`` or another exception) is swallowed;
    a cancellation of the caller itself still propagates.
    """
    live = [t for t in tasks if t is not None]
    for t in live:
        t.cancel()
    if live:
        await asyncio.gather(*live, return_exceptions=True)
