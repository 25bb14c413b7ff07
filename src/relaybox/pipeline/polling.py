"""The polling coordinator: fetch a batch, apply it, settle it, repeat."""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass
from typing import Generic, TypeVar

from relaybox.core.backoff import Backoff
from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import FetchError, SettleError, TemporaryError
from relaybox.core.outcome import Outcome
from relaybox.core.waiting import first_of
from relaybox.pipeline import events
from relaybox.pipeline.grace import shielded
from relaybox.pipeline.lifecycle import Lifecycle, positive_int, require
from relaybox.pipeline.reporting import ErrorHandler, Reporter
from relaybox.ports.applier import Applier
from relaybox.ports.observer import Observer
from relaybox.ports.source import BatchSource

T = TypeVar("T")

ERROR_BACKOFF = Backoff(initial=1.0, max_delay=60.0, multiplier=2.0, jitter=0.1)
"""Default wait after failed polls: 1 s doubling to 60 s, 10 % jitter."""


@dataclass(frozen=True, slots=True, repr=False)
class PollResult(Generic[T]):
    """What one poll did. ``outcome`` covers exactly the fetched records.

    Its repr shows counts, never the records: a batch may hold thousands.
    """

    fetched: int
    outcome: Outcome[T]
    error: BaseException | None = None
    duration: float = 0.0

    @property
    def delivered(self) -> int:
        return len(self.outcome.delivered)

    @property
    def failed(self) -> int:
        return len(self.outcome.failed)

    @property
    def dead(self) -> int:
        return len(self.outcome.dead)

    @property
    def progressed(self) -> bool:
        """True when some record was settled for good (delivered or dead)."""
        return self.delivered + self.dead > 0

    def raise_for_error(self) -> None:
        """Raise the poll's error, if it had one."""
        if self.error is not None:
            raise self.error

    def __repr__(self) -> str:
        return (
            f"PollResult(fetched={self.fetched}, delivered={self.delivered}, "
            f"failed={self.failed}, dead={self.dead}, error={self.error!r}, "
            f"duration={self.duration:.3f})"
        )


class PollingCoordinator(Generic[T]):
    """Polls a :class:`BatchSource`, applies each batch and settles the outcome.

    * The first poll runs at once, then one every ``interval`` seconds (5 s).
    * A full batch (``batch_size`` records, default 100, passed to the source)
      that made progress is followed at once by the next poll, to work off
      a backlog (``catch_up=True``; ``drain=`` is its deprecated name).
    * After a failed poll (fetch error, fatal apply error, settle error) the
      next one waits on ``error_backoff`` (1 s doubling to 60 s), or longer when
      the error is a :class:`TemporaryError` with ``retry_after``.
    * Delivered records are settled even when the batch also has a fatal error.
    * With ``idle`` (a :class:`Backoff`), polling adapts: any poll that made
      progress is followed at once by the next, and the n-th empty poll in a row
      waits ``idle.delay(n)``, capped at ``interval``. ``wake()`` cuts a wait
      short (new work was just committed, say).
    * ``stop()`` lets the poll in flight finish (middleware waiting on a timer
      releases its records at once) and returns when ``run()`` has; after
      ``grace`` seconds (30) it cancels, still giving settling its grace period.
    """

    def __init__(
        self,
        source: BatchSource[T],
        applier: Applier[T],
        *,
        interval: float = 5.0,
        batch_size: int = 100,
        error_backoff: Backoff = ERROR_BACKOFF,
        catch_up: bool = True,
        drain: bool | None = None,
        idle: Backoff | None = None,
        grace: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
        observer: Observer | None = None,
        on_error: ErrorHandler | None = None,
        name: str = "pipeline",
    ) -> None:
        require(interval > 0, f"interval must be positive seconds, got {interval!r}")
        positive_int(batch_size, "batch_size")
        self._life = Lifecycle(grace, clock)
        self.source = source
        self.applier = applier
        self.interval = interval
        self.batch_size = batch_size
        self.error_backoff = error_backoff
        if drain is not None:
            warnings.warn(
                "PollingCoordinator(drain=...) is renamed catch_up=...; "
                "it is unrelated to Relay.drain()",
                DeprecationWarning,
                stacklevel=2,
            )
            catch_up = drain
        self.catch_up = catch_up
        self.idle = idle
        self._wake = asyncio.Event()
        self._empty_polls = 0
        self._clock = clock
        self._report = Reporter(name, observer, on_error)
        self._consecutive_errors = 0
        self.polls = 0

    @property
    def running(self) -> bool:
        return self._life.active

    async def run(self) -> None:
        """Poll until :meth:`stop` is called. Raises if already running."""
        with self._life.running() as stopping:
            while not stopping.is_set():
                result = await self._poll()
                delay = self._next_delay(result)
                if delay > 0 and not await self._wait(delay, stopping):
                    break

    def wake(self) -> None:
        """Poll now instead of finishing the current wait (a hint: work may be ready)."""
        self._wake.set()

    async def _wait(self, delay: float, stopping: asyncio.Event) -> bool:
        """Sleep ``delay`` unless woken or stopped; False when stopping."""
        if self._wake.is_set():
            self._wake.clear()
            return not stopping.is_set()
        await first_of(
            asyncio.ensure_future(self._clock.sleep(delay)),
            asyncio.ensure_future(stopping.wait()),
            asyncio.ensure_future(self._wake.wait()),
        )
        self._wake.clear()
        return not stopping.is_set()

    async def stop(self) -> None:
        """Ask ``run()`` to finish and wait for it. Idempotent and safe to call concurrently."""
        await self._life.stop()

    async def run_once(self) -> PollResult[T]:
        """Run a single poll now. Raises :class:`CoordinatorRunningError` while running."""
        with self._life.running():
            return await self._poll()

    async def _poll(self) -> PollResult[T]:
        clock, report = self._clock, self._report
        started = clock.monotonic()
        self.polls += 1
        try:
            records = await self.source.fetch(self.batch_size)
        except Exception as exc:
            fetch_error = FetchError.caused_by(exc)
            await report.error("fetch", fetch_error)
            return self._finish(PollResult(0, Outcome(), fetch_error, clock.monotonic() - started))
        report.event(events.FETCHED, count=len(records))
        if not records:
            return self._finish(PollResult(0, Outcome(), None, clock.monotonic() - started))
        outcome = await report.apply(self.applier, records, clock)
        error: BaseException | None = outcome.error
        try:
            await shielded(self.source.settle(outcome), grace=self._life.grace, clock=clock)
        except Exception as exc:
            settle_error = SettleError.caused_by(len(outcome.delivered) + len(outcome.dead), exc)
            await report.error("settle", settle_error)
            error = error or settle_error
        else:
            report.event(events.SETTLED, count=len(records))
        duration = clock.monotonic() - started
        return self._finish(PollResult(len(records), outcome, error, duration))

    def _finish(self, result: PollResult[T]) -> PollResult[T]:
        self._report.event(events.POLL_COMPLETED, count=result.fetched, duration=result.duration)
        return result

    def _next_delay(self, result: PollResult[T]) -> float:
        if result.error is not None:
            self._consecutive_errors += 1
            delay = self.error_backoff.delay(self._consecutive_errors)
            hint = result.error.retry_after if isinstance(result.error, TemporaryError) else None
            return max(delay, hint or 0.0)
        self._consecutive_errors = 0
        if self.idle is not None:
            if result.fetched and result.progressed:
                self._empty_polls = 0
                return 0.0
            self._empty_polls += 1
            return min(self.interval, self.idle.delay(self._empty_polls))
        if self.catch_up and result.fetched >= self.batch_size and result.progressed:
            return 0.0
        return self.interval

    def __repr__(self) -> str:
        return (
            f"PollingCoordinator(name={self._report.name!r}, running={self.running}, "
            f"polls={self.polls}, interval={self.interval}, batch_size={self.batch_size})"
        )
