"""Transformation: the inner applier sees ``fn(record)``, the caller sees its own records.

The outcome is mapped back so that what is delivered, failed or dead are the
ORIGINAL record objects the caller passed in; the source then settles the
records it fetched, never the transformed values. The mapping goes by identity
of the transformed values and keeps multiplicity: when one value object stands
for several records (``fn`` returned a constant, a cached object or an interned
string or small int), each listing of it takes the next of those records in
input order. Whatever the inner applier leaves unaccounted for is reconciled as
failed with its fatal error (or as missing), so no record is lost or doubled.

A transform that raises fails only that record, with that exception, and the
record is not applied. If the inner applier raises while some transforms
failed, its exception is kept as the outcome's ``error``; otherwise it
propagates unchanged.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar, overload

from relaybox.core.calls import is_async_callable
from relaybox.core.errors import ConfigurationError
from relaybox.core.outcome import Failure, Outcome
from relaybox.ports.applier import Applier

T = TypeVar("T")
U = TypeVar("U")

TransformFn = Callable[[T], U] | Callable[[T], Awaitable[U]]


class _Missing(enum.Enum):
    TOKEN = enum.auto()


class _Originals(Generic[T]):
    """Transformed value (by identity) -> the records it came from, in input order."""

    __slots__ = ("_first", "_more", "remaining")

    def __init__(self) -> None:
        self._first: dict[int, T] = {}
        self._more: dict[int, deque[T]] = {}
        self.remaining = 0

    def add(self, value: object, original: T) -> None:
        key = id(value)
        self.remaining += 1
        if key in self._first:
            self._more.setdefault(key, deque()).append(original)
        else:
            self._first[key] = original

    def take(self, value: object) -> T | _Missing:
        key = id(value)
        original = self._first.pop(key, _Missing.TOKEN)
        if original is _Missing.TOKEN:
            return original
        more = self._more.get(key)
        if more:
            self._first[key] = more.popleft()
        self.remaining -= 1
        return original


class TransformingApplier(Generic[T, U]):
    """Applies ``fn(record)`` for each record with ``inner``; reports the originals."""

    def __init__(self, inner: Applier[U], fn: TransformFn[T, U]) -> None:
        self._inner = inner
        self._fn = fn
        self._async = is_async_callable(fn)
        self.transform_errors = 0

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        values: list[U] = []
        originals: _Originals[T] = _Originals()
        broken: list[Failure[T]] = []
        await self._transform(records, values, originals, broken)
        self.transform_errors += len(broken)
        if not values:
            return Outcome(failed=tuple(broken))
        try:
            outcome = await self._inner.apply(values)
        except Exception as exc:
            if not broken:
                raise
            outcome = Outcome(error=exc)
        mapped = _map_back(outcome, originals, broken)
        return mapped.reconcile(records) if originals.remaining else mapped

    async def _transform(
        self,
        records: Sequence[T],
        values: list[U],
        originals: _Originals[T],
        broken: list[Failure[T]],
    ) -> None:
        sync_fn: Callable[[T], U] = self._fn  # type: ignore[assignment]
        async_fn: Callable[[T], Awaitable[U]] = self._fn  # type: ignore[assignment]
        for record in records:
            try:
                value = await async_fn(record) if self._async else sync_fn(record)
            except Exception as exc:
                broken.append(Failure(record, exc))
                continue
            values.append(value)
            originals.add(value, record)

    def __repr__(self) -> str:
        name = getattr(self._fn, "__qualname__", self._fn)
        return (
            f"TransformingApplier({self._inner!r}, fn={name!r}, "
            f"transform_errors={self.transform_errors})"
        )


def _map_back(
    outcome: Outcome[U], originals: _Originals[T], broken: list[Failure[T]]
) -> Outcome[T]:
    """The outcome in terms of original records; values not ours are dropped."""
    delivered: list[T] = []
    for value in outcome.delivered:
        original = originals.take(value)
        if original is not _Missing.TOKEN:
            delivered.append(original)
    return Outcome(
        delivered=delivered,
        failed=_failures_back(outcome.failed, originals) + broken,
        dead=_failures_back(outcome.dead, originals),
        error=outcome.error,
    )


def _failures_back(failures: Sequence[Failure[U]], originals: _Originals[T]) -> list[Failure[T]]:
    mapped: list[Failure[T]] = []
    for f in failures:
        original = originals.take(f.record)
        if original is not _Missing.TOKEN:
            mapped.append(
                Failure(original, f.error, f.attempts, f.first_failed_at, f.last_failed_at)
            )
    return mapped


@overload
def transformed(fn: Callable[[T], Awaitable[U]]) -> Callable[[Applier[U]], Applier[T]]: ...


@overload
def transformed(fn: Callable[[T], U]) -> Callable[[Applier[U]], Applier[T]]: ...


def transformed(fn: TransformFn[T, U]) -> Callable[[Applier[U]], Applier[T]]:
    """Middleware handing ``fn(record)`` to the inner applier instead of each record.

    ``fn`` may be a ``def`` (called inline on the event loop, so keep it cheap
    and non-blocking) or an ``async def`` (awaited record by record, for lookups).
    The outcome lists the original records; see the module docstring.
    """
    if not callable(fn):
        raise ConfigurationError(
            f"fn must be a callable taking a record and returning its new form, not {fn!r}"
        )

    def wrap(inner: Applier[U]) -> Applier[T]:
        return TransformingApplier(inner, fn)

    return wrap
