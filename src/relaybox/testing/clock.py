"""A clock that moves only when the test says so."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class FakeClock:
    """A deterministic :class:`~relaybox.core.clock.Clock` for tests.

    ``sleep`` parks the caller until :meth:`advance` moves time past its
    deadline; sleepers wake in deadline order, each seeing ``monotonic()`` at
    its own deadline. Nothing ever waits on real time.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._start = start
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.slept: list[float] = []
        """Every duration passed to :meth:`sleep`, in call order."""

    def now(self) -> float:
        return self._start + self._elapsed

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._elapsed + seconds, next(self._seq), future))
        await future

    @property
    def sleepers(self) -> int:
        """How many coroutines are asleep on this clock right now."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking every sleeper whose deadline is reached."""
        target = self._elapsed + seconds
        await settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self._elapsed = max(self._elapsed, deadline)
            future.set_result(None)
            await settle()
        self._elapsed = target
        await settle()

    async def wait_for_sleepers(self, count: int = 1, *, rounds: int = 10_000) -> None:
        """Let other tasks run until ``count`` of them sleep on this clock."""
        for _ in range(rounds):
            if self.sleepers >= count:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"expected {count} sleepers on the fake clock, saw {self.sleepers}")

    def __repr__(self) -> str:
        return f"FakeClock(monotonic={self._elapsed:.3f}, sleepers={self.sleepers})"


async def settle(rounds: int = 20) -> None:
    """Let ready tasks run for a few event-loop turns (no real time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
