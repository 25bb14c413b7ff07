"""Timing of apply calls: report how long each call took to a callback.

The callback gets the duration in seconds, measured on the injected clock's
monotonic time, once per call: also when the inner applier raised or the call
was cancelled. It is a metrics sink, so an exception it raises is logged on the
``relaybox.timing`` logger and ignored rather than failing the records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from relaybox.core.calls import call_maybe_async
from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import ConfigurationError
from relaybox.core.outcome import Outcome
from relaybox.ports.applier import AnyMiddleware, Applier

T = TypeVar("T")

_log = logging.getLogger("relaybox.timing")


class TimedApplier(Generic[T]):
    """Calls ``on_duration(seconds)`` after every call of ``inner``."""

    def __init__(
        self, inner: Applier[T], on_duration: Callable[[float], object], clock: Clock
    ) -> None:
        self._inner = inner
        self._on_duration = on_duration
        self._clock = clock
        self.calls = 0
        self.last_duration: float | None = None

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        started = self._clock.monotonic()
        try:
            return await self._inner.apply(records)
        finally:
            await self._report(self._clock.monotonic() - started)

    async def _report(self, duration: float) -> None:
        self.calls += 1
        self.last_duration = duration
        try:
            await call_maybe_async(self._on_duration, duration)
        except Exception:
            # Raising here would replace the outcome (or the inner's exception)
            # with a metrics failure, so it is only logged.
            _log.exception("on_duration callback raised; ignoring it")

    def __repr__(self) -> str:
        return (
            f"TimedApplier({self._inner!r}, calls={self.calls}, last_duration={self.last_duration})"
        )


def timed(on_duration: Callable[[float], object], *, clock: Clock = SYSTEM_CLOCK) -> AnyMiddleware:
    """Middleware calling ``on_duration(seconds)`` (``def`` or ``async def``) once per apply.

    ``clock`` defaults to the system clock; its ``monotonic()`` measures the call.
    """
    if not callable(on_duration):
        raise ConfigurationError(
            f"on_duration must be a callable taking the duration in seconds, not {on_duration!r}"
        )

    def wrap(inner: Applier[T]) -> Applier[T]:
        return TimedApplier(inner, on_duration, clock)

    return wrap
