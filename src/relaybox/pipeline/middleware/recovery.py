"""Recovery: an exception raised by an applier becomes an outcome.

Every record of the call fails with the very exception that was raised (its
type, message and traceback intact), and the outcome carries it as its fatal
``error``, so retry, dead-letter and logging middleware further out see the
real cause. Only :class:`Exception` is caught: cancellation,
``KeyboardInterrupt`` and ``SystemExit`` keep propagating.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from relaybox.core.calls import call_maybe_async
from relaybox.core.errors import ConfigurationError
from relaybox.core.outcome import Outcome
from relaybox.ports.applier import AnyMiddleware, Applier

T = TypeVar("T")

_log = logging.getLogger("relaybox.recovery")


class RecoveringApplier(Generic[T]):
    """Turns an exception raised by ``inner`` into every record failed with it."""

    def __init__(
        self, inner: Applier[T], on_error: Callable[[BaseException], object] | None
    ) -> None:
        self._inner = inner
        self._on_error = on_error
        self.recovered = 0
        self.last_error: BaseException | None = None

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        try:
            return await self._inner.apply(records)
        except Exception as exc:
            self.recovered += 1
            self.last_error = exc
            await self._notify(exc)
            return Outcome.all_failed(records, exc, fatal=True)

    async def _notify(self, error: BaseException) -> None:
        if self._on_error is None:
            return
        try:
            await call_maybe_async(self._on_error, error)
        except Exception:
            # The records' account matters more than the notification.
            _log.exception("on_error callback raised; ignoring it")

    def __repr__(self) -> str:
        return (
            f"RecoveringApplier({self._inner!r}, recovered={self.recovered}, "
            f"last_error={self.last_error!r})"
        )


def recover(on_error: Callable[[BaseException], object] | None = None) -> AnyMiddleware:
    """Middleware turning an exception raised by the inner applier into an outcome.

    ``on_error`` (``def`` or ``async def``, default ``None``) is called with the
    exception; if it raises, that is logged on ``relaybox.recovery`` and ignored.
    """
    if on_error is not None and not callable(on_error):
        raise ConfigurationError(
            f"on_error must be a callable taking the exception, or None, not {on_error!r}"
        )

    def wrap(inner: Applier[T]) -> Applier[T]:
        return RecoveringApplier(inner, on_error)

    return wrap
