"""The cooperative stop signal that coordinators hand to middleware.

A coordinator that is asked to stop sets its signal; anything waiting on a
timer inside the pipeline (a retry backoff, a rate limit) wakes up, gives its
records back as released and returns at once, while work already sent to a
downstream finishes normally. Nothing is cancelled half-way, so delivered
records are still recorded and waiting ones are not dead-lettered.

The signal travels in a context variable, so middleware needs no extra argument.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from relaybox.core.clock import Clock
from relaybox.core.waiting import first_of

_signal: ContextVar[asyncio.Event | None] = ContextVar("relaybox_stop_signal", default=None)


@contextmanager
def stop_signal(event: asyncio.Event) -> Iterator[None]:
    """Make ``event`` the stop signal for code run (and tasks created) in this block."""
    token = _signal.set(event)
    try:
        yield
    finally:
        _signal.reset(token)


def stop_requested() -> bool:
    """True when the surrounding coordinator has been asked to stop."""
    event = _signal.get()
    return event is not None and event.is_set()


async def sleep_unless_stopped(clock: Clock, seconds: float) -> bool:
    """Sleep on ``clock``; return False early (and at once) if a stop is requested."""
    event = _signal.get()
    if event is None:
        await clock.sleep(seconds)
        return True
    if event.is_set():
        return False
    await first_of(asyncio.ensure_future(clock.sleep(seconds)), asyncio.ensure_future(event.wait()))
    return not event.is_set()
