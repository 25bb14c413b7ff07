"""Run-and-stop bookkeeping shared by the coordinators."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from relaybox.core.clock import Clock
from relaybox.core.errors import ConfigurationError, CoordinatorRunningError
from relaybox.core.stopping import stop_signal
from relaybox.pipeline.grace import wait_event


class Lifecycle:
    """One run at a time, an idempotent ``stop()``, and a grace period before cancelling.

    ``running()`` wraps the body of a coordinator's ``run()``: it refuses a
    second concurrent run, publishes the stop signal to the code inside, and
    marks the run done however it ends. ``stop()`` sets the signal and waits for
    the run to end; after ``grace`` seconds it cancels the run.
    """

    def __init__(self, grace: float, clock: Clock) -> None:
        require(grace >= 0, f"grace must be >= 0 seconds, got {grace!r}")
        self.grace = grace
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._done = asyncio.Event()

    @property
    def active(self) -> bool:
        return self._task is not None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @contextmanager
    def running(self) -> Iterator[asyncio.Event]:
        # No await between the check and the claim: asyncio cannot interleave here.
        if self._task is not None:
            raise CoordinatorRunningError()
        self._task = asyncio.current_task()
        self._stop, self._done = asyncio.Event(), asyncio.Event()
        try:
            with stop_signal(self._stop):
                yield self._stop
        finally:
            self._task = None
            self._done.set()

    async def stop(self) -> None:
        """Ask the run to finish and wait for it. Idempotent and safe to call concurrently."""
        task = self._task
        if task is None:
            return
        self._stop.set()
        if not await wait_event(self._done, self.grace, self._clock) and not task.done():
            task.cancel()
            await self._done.wait()


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigurationError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigurationError(message)


def positive_int(value: object, name: str) -> None:
    require(isinstance(value, int) and value >= 1, f"{name} must be an int >= 1, got {value!r}")
