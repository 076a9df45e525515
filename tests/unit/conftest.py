"""Fixtures shared by the unit tests (pytest discovers fixtures only here)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for the module's async examples (a loop per example costs more
    than the parsers), closed with nothing left running."""
    loop = asyncio.new_event_loop()
    yield loop

    async def cancel_leftovers() -> None:
        leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    loop.run_until_complete(cancel_leftovers())
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
