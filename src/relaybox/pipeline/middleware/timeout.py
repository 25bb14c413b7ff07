"""Timeouts: give up on an apply call that takes too long.

The inner call runs as a task raced against ``clock.sleep(seconds)``, so the
limit follows the injected clock. When the timer wins, the task is cancelled
and the call returns at once: a downstream that ignores cancellation cannot
hold the batch hostage. Such a task is kept alive in a module-level set until it
really ends (asyncio only keeps weak references to tasks), and an exception it
ends with is logged rather than lost.

A timed-out record may or may not have reached the downstream, so it fails with
:class:`ApplyTimeoutError` (temporary) and is tried again: delivery stays
at-least-once. Every input record is accounted exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from typing import Any, Generic, Literal, TypeVar

from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import (
    ApplyTimeoutError,
    ConfigurationError,
    ReleasedError,
    ShutdownReleasedError,
)
from relaybox.core.outcome import Failure, Outcome, merge
from relaybox.core.stopping import stop_requested
from relaybox.ports.applier import AnyMiddleware, Applier

T = TypeVar("T")

Per = Literal["batch", "record"]

_log = logging.getLogger("relaybox.timeout")

# Strong references to timed-out calls still running after their cancellation.
_abandoned: set[asyncio.Future[Any]] = set()


class TimeoutApplier(Generic[T]):
    """Fails records whose apply call outlives ``seconds``; see :func:`timeout`."""

    def __init__(self, inner: Applier[T], seconds: float, per: Per, clock: Clock) -> None:
        self._inner = inner
        self._seconds = seconds
        self._per = per
        self._clock = clock
        self.timeouts = 0

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        if self._per == "batch":
            return await self._apply_batch(records)
        return await self._apply_each(records)

    async def _apply_batch(self, records: Sequence[T]) -> Outcome[T]:
        outcome = await self._within(records)
        if outcome is not None:
            return outcome
        error = self._timeout_error(len(records))
        return Outcome(failed=tuple(Failure(r, error) for r in records), error=error)

    async def _apply_each(self, records: Sequence[T]) -> Outcome[T]:
        outcomes: list[Outcome[T]] = []
        for index, record in enumerate(records):
            if stop_requested():
                # Not sent yet: hand the rest back rather than start new work.
                outcomes.append(Outcome.released(records[index:], ShutdownReleasedError()))
                break
            outcome = await self._apply_one(record)
            outcomes.append(outcome)
            if outcome.error is not None:
                # A fatal error concerns the whole call: the rest is not sent, and
                # released (not attempted), while the outcome still carries the error.
                not_sent = ReleasedError("not sent: an earlier record failed the whole call")
                not_sent.__cause__ = outcome.error
                outcomes.append(Outcome.released(records[index + 1 :], not_sent))
                break
        return merge(outcomes)

    async def _apply_one(self, record: T) -> Outcome[T]:
        one = (record,)
        try:
            outcome = await self._within(one)
        except Exception as exc:
            outcome = Outcome(error=exc)
        if outcome is None:
            return Outcome(failed=(Failure(record, self._timeout_error(1)),))
        return outcome.reconcile(one)

    async def _within(self, records: Sequence[T]) -> Outcome[T] | None:
        """The inner outcome, or None when the timer rang first (the call is then cancelled)."""
        call = asyncio.ensure_future(self._inner.apply(records))
        timer = asyncio.ensure_future(self._clock.sleep(self._seconds))
        try:
            await asyncio.wait((call, timer), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            _abandon(call)
            raise
        finally:
            timer.cancel()
        if call.done():
            return call.result()
        _abandon(call)
        self.timeouts += 1
        return None

    def _timeout_error(self, count: int) -> ApplyTimeoutError:
        return ApplyTimeoutError(f"applying {count} records took longer than {self._seconds:g} s")

    def __repr__(self) -> str:
        return (
            f"TimeoutApplier({self._inner!r}, seconds={self._seconds:g}, per={self._per!r}, "
            f"timeouts={self.timeouts}, still_running={len(_abandoned)})"
        )


def _abandon(call: asyncio.Future[Outcome[T]]) -> None:
    """Cancel ``call`` without waiting for it, keeping it alive until it ends."""
    call.cancel()
    if call.done():
        return
    _abandoned.add(call)
    call.add_done_callback(_forget)


def _forget(call: asyncio.Future[Any]) -> None:
    _abandoned.discard(call)
    if not call.cancelled() and call.exception() is not None:
        _log.warning("a timed-out apply call ended later with an error", exc_info=call.exception())


def timeout(seconds: float, *, per: Per = "batch", clock: Clock = SYSTEM_CLOCK) -> AnyMiddleware:
    """Middleware failing records whose apply call takes longer than ``seconds``.

    ``per="batch"`` (the default) limits the whole call; on expiry every record
    fails with :class:`ApplyTimeoutError` and the outcome's ``error`` is set.
    ``per="record"`` applies records one at a time in order, each with its own
    limit; a timed-out record fails and the others go on. There, a fatal inner
    error ends the call (the outcome carries it) and releases the records not
    yet applied (:class:`ReleasedError` caused by it: not an attempt, never
    dead-lettered), and a stop request releases them
    (:class:`ShutdownReleasedError`) before they are sent.
    """
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigurationError(f"seconds must be a positive number, not {seconds!r}")
    if per not in ("batch", "record"):
        raise ConfigurationError(f"per must be 'batch' or 'record', not {per!r}")

    def wrap(inner: Applier[T]) -> Applier[T]:
        return TimeoutApplier(inner, seconds, per, clock)

    return wrap
