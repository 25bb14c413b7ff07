"""Logging of apply calls: one line when a batch starts, one when it is done.

Each line carries a stable event name in ``extra["event"]`` (``apply.start`` and
``apply.done``) plus the counts as separate fields, so structured log handlers
can index them without parsing the message. The failed count includes records
the inner applier left out of its outcome, because those count as failed.

The level check comes first: when the logger is disabled for the level, a call
costs one ``isEnabledFor`` lookup (cached by :mod:`logging`) and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Generic, TypeVar

from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import ConfigurationError
from relaybox.core.outcome import Outcome
from relaybox.ports.applier import AnyMiddleware, Applier

T = TypeVar("T")

START = "apply.start"
DONE = "apply.done"

DEFAULT_LOGGER = logging.getLogger("relaybox.apply")


class LoggedApplier(Generic[T]):
    """Logs ``apply.start`` and ``apply.done`` around every call of ``inner``."""

    def __init__(
        self, inner: Applier[T], logger: logging.Logger, level: int, name: str, clock: Clock
    ) -> None:
        self._inner = inner
        self._logger = logger
        self._level = level
        self._name = name
        self._clock = clock

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        if not self._logger.isEnabledFor(self._level):
            return await self._inner.apply(records)
        count = len(records)
        self._logger.log(
            self._level,
            "%s: applying %d records",
            self._name,
            count,
            extra={"event": START, "applier": self._name, "count": count},
        )
        started = self._clock.monotonic()
        try:
            outcome = await self._inner.apply(records)
        except BaseException as exc:
            # Cancellation is logged too (nothing is awaited here), then re-raised.
            self._done(count, Outcome(error=exc), started)
            raise
        self._done(count, outcome, started)
        return outcome

    def _done(self, count: int, outcome: Outcome[T], started: float) -> None:
        duration = self._clock.monotonic() - started
        delivered, dead = len(outcome.delivered), len(outcome.dead)
        # Records in no list count as failed (with the fatal error, if any).
        failed = len(outcome.failed) + max(0, count - outcome.count)
        self._logger.log(
            self._level,
            "%s: applied records: delivered=%d failed=%d dead=%d error=%r duration=%.6fs",
            self._name,
            delivered,
            failed,
            dead,
            outcome.error,
            duration,
            extra={
                "event": DONE,
                "applier": self._name,
                "count": count,
                "delivered": delivered,
                "failed": failed,
                "dead": dead,
                "error": outcome.error,
                "duration": duration,
            },
        )

    def __repr__(self) -> str:
        level = logging.getLevelName(self._level)
        return f"LoggedApplier({self._inner!r}, logger={self._logger.name!r}, level={level})"


def logged(
    logger: logging.Logger | None = None,
    *,
    level: int = logging.INFO,
    name: str = "applier",
    clock: Clock = SYSTEM_CLOCK,
) -> AnyMiddleware:
    """Middleware logging two lines per apply call.

    ``logger`` defaults to the ``relaybox.apply`` logger, ``level`` to INFO and
    ``name`` (the ``applier`` field of each line, telling pipelines apart) to
    ``"applier"``. ``duration`` is measured on ``clock.monotonic()``.
    """
    if isinstance(level, bool) or not isinstance(level, int) or level < 0:
        raise ConfigurationError(
            f"level must be a logging level such as logging.INFO, not {level!r}"
        )
    if not name:
        raise ConfigurationError("name must be a non-empty string that identifies the applier")
    log = logger or DEFAULT_LOGGER

    def wrap(inner: Applier[T]) -> Applier[T]:
        return LoggedApplier(inner, log, level, name, clock)

    return wrap
