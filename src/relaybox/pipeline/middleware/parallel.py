"""Parallel application: one function per record, a bounded number at a time.

For downstreams that take one record per request (an HTTP endpoint, a key-value
put), running requests side by side hides their latency.

Choices:

* At most ``workers`` records are in flight: a fixed set of worker tasks pulls
  indexes from one shared iterator, so there is no queue and no per-record task.
* Results are reported in input order whatever the completion order, so outcomes
  are deterministic and tests can compare them.
* An exception raised by ``fn`` fails only its record and is kept as the
  failure's error; it never aborts the batch.
* The workers live in an :class:`asyncio.TaskGroup`: cancelling ``apply``
  (a timeout, a shutdown) cancels every in-flight call and returns only once
  they are gone, leaving no orphan tasks. A plain ``def`` runs in a worker
  thread, which Python cannot interrupt: it finishes in the background and its
  result is discarded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Generic, TypeVar

from relaybox.core.calls import to_async
from relaybox.core.errors import ConfigurationError
from relaybox.core.outcome import Failure, Outcome
from relaybox.ports.applier import Applier

T = TypeVar("T")

RecordFn = Callable[[T], object] | Callable[[T], Awaitable[object]]


class ParallelApplier(Generic[T]):
    """Calls ``fn(record)`` for each record, at most ``workers`` at once.

    ``apply`` may be called concurrently; each call has its own ``workers``
    budget.
    """

    def __init__(self, fn: RecordFn[T], *, workers: int = 10) -> None:
        if not callable(fn):
            raise ConfigurationError(f"fn must be a function of one record, got {fn!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigurationError(
                f"workers must be a positive int (records in flight at once), got {workers!r}"
            )
        self._fn = fn
        self._call: Callable[[T], Awaitable[object]] = to_async(fn)
        self._workers = workers
        self._in_flight = 0

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        if not records:
            return Outcome()
        errors: list[BaseException | None] = [None] * len(records)
        indexes = iter(range(len(records)))
        async with asyncio.TaskGroup() as group:
            for _ in range(min(self._workers, len(records))):
                group.create_task(self._work(records, indexes, errors))
        return _outcome(records, errors)

    async def _work(
        self, records: Sequence[T], indexes: Iterator[int], errors: list[BaseException | None]
    ) -> None:
        """Apply records until the shared iterator is exhausted, noting each error."""
        call = self._call
        for index in indexes:
            self._in_flight += 1
            try:
                await call(records[index])
            except Exception as exc:
                errors[index] = exc
            except asyncio.CancelledError as exc:
                # Only a cancellation of this task stops the batch; fn raising
                # CancelledError on its own is a failure of that record.
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise
                errors[index] = exc
            finally:
                self._in_flight -= 1

    def __repr__(self) -> str:
        name = getattr(self._fn, "__qualname__", repr(self._fn))
        return f"ParallelApplier({name}, workers={self._workers}, in_flight={self._in_flight})"


def parallel(fn: RecordFn[T], *, workers: int = 10) -> Applier[T]:
    """An applier calling ``fn`` once per record, up to ``workers`` (default 10) at once.

    ``fn`` may be ``def`` (run in a worker thread) or ``async def``. Delivered and
    failed records are listed in input order; an exception fails only its record.
    Raises :class:`~relaybox.core.errors.ConfigurationError` for a non-callable
    ``fn`` or a ``workers`` below 1.
    """
    return ParallelApplier(fn, workers=workers)


def _outcome(records: Sequence[T], errors: list[BaseException | None]) -> Outcome[T]:
    """The outcome in input order; one C-level count when nothing failed."""
    if errors.count(None) == len(errors):
        return Outcome(delivered=tuple(records))
    delivered: list[T] = []
    failed: list[Failure[T]] = []
    for record, error in zip(records, errors, strict=True):
        if error is None:
            delivered.append(record)
        else:
            failed.append(Failure(record, error))
    return Outcome(tuple(delivered), tuple(failed))
