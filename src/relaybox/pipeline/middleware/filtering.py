"""Filtering: apply only the records a predicate accepts.

A record the predicate rejects is skipped by filter, and skipped by filter
counts as done: it is reported ``delivered`` so the source settles it and never
offers it again. A record whose predicate raised fails with that exception and
is not applied. When no record passes, the inner applier is not called.

The skipped records stay delivered even when the inner applier fails the whole
call: its exception is caught and kept as the outcome's ``error``, and the
records it was given then count as failed with it. When every record passes,
the call goes straight through, outcome and exceptions untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from relaybox.core.calls import is_async_callable
from relaybox.core.errors import ConfigurationError
from relaybox.core.outcome import Failure, Outcome
from relaybox.ports.applier import Applier, Middleware, attempt

T = TypeVar("T")

Predicate = Callable[[T], bool] | Callable[[T], Awaitable[bool]]


class FilteringApplier(Generic[T]):
    """Applies the records ``predicate`` accepts and reports the others delivered."""

    def __init__(self, inner: Applier[T], predicate: Predicate[T]) -> None:
        self._inner = inner
        self._predicate = predicate
        self._async = is_async_callable(predicate)
        self.skipped = 0

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        passed: list[T] = []
        skipped: list[T] = []
        broken: list[Failure[T]] = []
        if self._async:
            await self._split_async(records, passed, skipped, broken)
        else:
            self._split(records, passed, skipped, broken)
        self.skipped += len(skipped)
        if not passed:
            return Outcome(delivered=tuple(skipped), failed=tuple(broken))
        if len(passed) == len(records):
            return await self._inner.apply(records)
        outcome = await attempt(self._inner, passed)
        return Outcome(
            delivered=(*outcome.delivered, *skipped),
            failed=(*outcome.failed, *broken),
            dead=outcome.dead,
            error=outcome.error,
        )

    def _split(
        self, records: Sequence[T], passed: list[T], skipped: list[T], broken: list[Failure[T]]
    ) -> None:
        predicate: Callable[[T], bool] = self._predicate  # type: ignore[assignment]
        for record in records:
            try:
                keep = predicate(record)
            except Exception as exc:
                broken.append(Failure(record, exc))
                continue
            (passed if keep else skipped).append(record)

    async def _split_async(
        self, records: Sequence[T], passed: list[T], skipped: list[T], broken: list[Failure[T]]
    ) -> None:
        predicate: Callable[[T], Awaitable[bool]] = self._predicate  # type: ignore[assignment]
        for record in records:
            try:
                keep = await predicate(record)
            except Exception as exc:
                broken.append(Failure(record, exc))
                continue
            (passed if keep else skipped).append(record)

    def __repr__(self) -> str:
        name = getattr(self._predicate, "__qualname__", self._predicate)
        return f"FilteringApplier({self._inner!r}, predicate={name!r}, skipped={self.skipped})"


def filtered(predicate: Predicate[T]) -> Middleware[T]:
    """Middleware applying only records for which ``predicate(record)`` is true.

    ``predicate`` may be a ``def`` (called inline, so keep it cheap) or an
    ``async def``. Rejected records are reported delivered (skipped by filter
    counts as done); see the module docstring for errors.
    """
    if not callable(predicate):
        raise ConfigurationError(
            f"predicate must be a callable taking a record and returning bool, not {predicate!r}"
        )

    def wrap(inner: Applier[T]) -> Applier[T]:
        return FilteringApplier(inner, predicate)

    return wrap
