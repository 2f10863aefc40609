"""cancel_and_wait: tasks end (their cleanup ran) before it returns; what they ended with
is not raised; the caller's own cancellation is not swallowed."""

from __future__ import annotations

import asyncio

import pytest

from flobc.node.tasks import cancel_and_wait


async def test_cancelled_tasks_have_finished_their_cleanup() -> None:
    cleaned: list[str] = []

    async def worker(name: str) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            cleaned.append(name)

    a, b = asyncio.create_task(worker("a")), asyncio.create_task(worker("b"))
    await asyncio.sleep(0)
    await cancel_and_wait(a, None, b)
    assert sorted(cleaned) == ["a", "b"] and a.cancelled() and b.cancelled()


async def test_a_task_that_failed_or_finished_is_not_raised() -> None:
    async def boom() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(boom())
    done = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    await cancel_and_wait(failed, done)  # no RuntimeError
    await cancel_and_wait()
    await cancel_and_wait(None)


async def test_the_callers_cancellation_propagates() -> None:
    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                await asyncio.sleep(0.05)  # slow to end
                return

    inner = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    outer = asyncio.create_task(cancel_and_wait(inner))
    await asyncio.sleep(0.01)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    await cancel_and_wait(inner)
