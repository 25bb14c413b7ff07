"""Context: set context variables for the duration of an apply call.

``prepare(records)`` returns the values (a mapping of
:class:`contextvars.ContextVar` to value) that the inner applier, and anything
it calls or spawns, should see: a trace id, a tenant, a request deadline. They
are set just before the inner call and reset right after it, even when it
raises, so nothing leaks into the caller or the next batch. Context variables
need no extra argument threaded through every applier.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar, Token
from typing import Any, Generic, TypeVar

from relaybox.core.calls import call_maybe_async
from relaybox.core.errors import ConfigurationError
from relaybox.core.outcome import Outcome
from relaybox.ports.applier import Applier, Middleware

T = TypeVar("T")

Values = Mapping[ContextVar[Any], Any]
Prepare = Callable[[Sequence[T]], Values] | Callable[[Sequence[T]], Awaitable[Values]]


class ContextApplier(Generic[T]):
    """Runs ``inner`` with the context variables ``prepare(records)`` returns."""

    def __init__(self, inner: Applier[T], prepare: Prepare[T]) -> None:
        self._inner = inner
        self._prepare = prepare

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        values: Values = await call_maybe_async(self._prepare, records)
        tokens: list[tuple[ContextVar[Any], Token[Any]]] = [
            (var, var.set(value)) for var, value in values.items()
        ]
        try:
            return await self._inner.apply(records)
        finally:
            # Each token restores the value the caller had, set or not.
            for var, token in reversed(tokens):
                var.reset(token)

    def __repr__(self) -> str:
        name = getattr(self._prepare, "__qualname__", self._prepare)
        return f"ContextApplier({self._inner!r}, prepare={name!r})"


def context(prepare: Prepare[T]) -> Middleware[T]:
    """Middleware setting the context variables ``prepare(records)`` returns around the call.

    ``prepare`` may be a ``def`` (called inline, keep it cheap) or an ``async
    def``. If it raises, the exception propagates and nothing is applied.
    """
    if not callable(prepare):
        raise ConfigurationError(
            f"prepare must be a callable taking the records and returning a mapping of "
            f"ContextVar to value, not {prepare!r}"
        )

    def wrap(inner: Applier[T]) -> Applier[T]:
        return ContextApplier(inner, prepare)

    return wrap
