"""Finishing bookkeeping during shutdown.

Marking, acking and nacking must not be cut short by the cancellation that
stops a pipeline: records that were delivered but not recorded would be
delivered again. These helpers shield such work and give it a grace period.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from relaybox.core.clock import Clock
from relaybox.core.waiting import first_of

R = TypeVar("R")


async def shielded(work: Awaitable[R], *, grace: float, clock: Clock) -> R:
    """Await ``work`` so that cancelling the caller lets it finish within ``grace``.

    Without cancellation this is a plain await. When the caller is cancelled,
    the work keeps running for up to ``grace`` seconds, then the cancellation
    goes on (and the work is cancelled if it is still not done).
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            await first_of(task, asyncio.ensure_future(clock.sleep(grace)))
        raise


async def wait_event(event: asyncio.Event, within: float | None, clock: Clock) -> bool:
    """Wait for ``event`` up to ``within`` seconds on ``clock``; True if it was set."""
    if event.is_set():
        return True
    if within is None:
        await event.wait()
        return True
    await first_of(asyncio.ensure_future(event.wait()), asyncio.ensure_future(clock.sleep(within)))
    return event.is_set()
