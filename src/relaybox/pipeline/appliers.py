"""Appliers built from plain functions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from relaybox.core.calls import is_async_callable
from relaybox.core.outcome import Failure, Outcome
from relaybox.ports.applier import Applier

T = TypeVar("T")

RecordFn = Callable[[T], object] | Callable[[T], Awaitable[object]]
BatchFn = Callable[[Sequence[T]], object] | Callable[[Sequence[T]], Awaitable[object]]


class FunctionApplier(Generic[T]):
    """Calls ``fn(record)`` for each record in order; an exception fails only that record.

    An ``async def`` is awaited record by record. A plain ``def`` runs the whole
    batch in one worker thread (one hop per batch, not per record), so blocking
    calls never stall the event loop; pass ``offload=False`` for functions that
    are pure and fast, to run them inline.
    """

    def __init__(self, fn: RecordFn[T], *, offload: bool = True) -> None:
        self._fn = fn
        self._async = is_async_callable(fn)
        self._offload = offload

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        if self._async:
            return await self._apply_async(records)
        if self._offload:
            return await asyncio.to_thread(self._apply_sync, records)
        return self._apply_sync(records)

    async def _apply_async(self, records: Sequence[T]) -> Outcome[T]:
        fn: Callable[[T], Awaitable[object]] = self._fn  # type: ignore[assignment]
        delivered: list[T] = []
        failed: list[Failure[T]] = []
        for record in records:
            try:
                await fn(record)
            except Exception as exc:
                failed.append(Failure(record, exc))
            else:
                delivered.append(record)
        return Outcome(delivered, failed)

    def _apply_sync(self, records: Sequence[T]) -> Outcome[T]:
        fn = self._fn
        delivered: list[T] = []
        failed: list[Failure[T]] = []
        for record in records:
            try:
                fn(record)
            except Exception as exc:
                failed.append(Failure(record, exc))
            else:
                delivered.append(record)
        return Outcome(delivered, failed)

    def __repr__(self) -> str:
        return f"FunctionApplier({getattr(self._fn, '__qualname__', self._fn)!r})"


class BatchFunctionApplier(Generic[T]):
    """Calls ``fn(records)`` once: all records delivered, or all failed with its exception."""

    def __init__(self, fn: BatchFn[T]) -> None:
        self._fn = fn
        self._async = is_async_callable(fn)

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        if not records:
            return Outcome()
        try:
            if self._async:
                await self._fn(records)  # type: ignore[misc]
            else:
                await asyncio.to_thread(self._fn, records)
        except Exception as exc:
            return Outcome.all_failed(records, exc)
        return Outcome.all_delivered(records)

    def __repr__(self) -> str:
        return f"BatchFunctionApplier({getattr(self._fn, '__qualname__', self._fn)!r})"


class OutcomeFunctionApplier(Generic[T]):
    """Full control: ``fn(records)`` returns the :class:`Outcome` itself."""

    def __init__(self, fn: Callable[[Sequence[T]], Awaitable[Outcome[T]]]) -> None:
        self._fn = fn

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        return await self._fn(records)


def process(fn: RecordFn[T], *, offload: bool = True) -> Applier[T]:
    """An applier calling ``fn`` once per record; see :class:`FunctionApplier`."""
    return FunctionApplier(fn, offload=offload)


def process_batch(fn: BatchFn[T]) -> Applier[T]:
    """An all-or-nothing applier calling ``fn`` with the whole batch."""
    return BatchFunctionApplier(fn)


def applier(fn: Callable[[Sequence[T]], Awaitable[Outcome[T]]]) -> Applier[T]:
    """An applier from an ``async def`` that returns an :class:`Outcome`."""
    return OutcomeFunctionApplier(fn)
