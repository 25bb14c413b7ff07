"""Time as a port: every timing decision in relaybox reads an injected clock.

Production code uses :data:`SYSTEM_CLOCK`; tests use
:class:`relaybox.testing.FakeClock`, which moves only when told to.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Wall time for records, monotonic time for intervals, and a sleep."""

    def now(self) -> float:
        """Wall-clock time in epoch seconds (timestamps stored on records)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (intervals and deadlines)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; cancellable like :func:`asyncio.sleep`."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK: Clock = SystemClock()
