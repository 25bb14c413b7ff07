"""In-memory sources for unit tests of pipelines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Generic, TypeVar

from relaybox.core.outcome import Failure, Outcome

T = TypeVar("T")


class MemoryBatchSource(Generic[T]):
    """A batch source over a list, behaving like a table polled for pending rows.

    Fetch returns the oldest pending records (up to the limit); settle removes
    delivered and dead ones and leaves failed ones pending, so they are offered
    again. Set ``fetch_error``/``settle_error`` to make the next call raise.
    Everything that happens is kept for assertions.
    """

    def __init__(self, records: Iterable[T] = ()) -> None:
        self.pending: list[T] = list(records)
        self.delivered: list[T] = []
        self.dead: list[Failure[T]] = []
        self.failures: list[Failure[T]] = []
        self.fetch_limits: list[int] = []
        self.settled: list[Outcome[T]] = []
        self.fetch_error: BaseException | None = None
        self.settle_error: BaseException | None = None

    def add(self, *records: T) -> None:
        self.pending.extend(records)

    async def fetch(self, limit: int, /) -> Sequence[T]:
        self.fetch_limits.append(limit)
        if self.fetch_error is not None:
            error, self.fetch_error = self.fetch_error, None
            raise error
        return list(self.pending[:limit])

    async def settle(self, outcome: Outcome[T], /) -> None:
        self.settled.append(outcome)
        if self.settle_error is not None:
            error, self.settle_error = self.settle_error, None
            raise error
        done = {id(r) for r in outcome.delivered} | {id(f.record) for f in outcome.dead}
        self.pending = [r for r in self.pending if id(r) not in done]
        self.delivered.extend(outcome.delivered)
        self.dead.extend(outcome.dead)
        self.failures.extend(outcome.failed)

    def __repr__(self) -> str:
        return (
            f"MemoryBatchSource(pending={len(self.pending)}, delivered={len(self.delivered)}, "
            f"dead={len(self.dead)})"
        )


class MemoryStreamSource(Generic[T]):
    """A stream source fed with :meth:`push`; :meth:`end` ends the stream.

    ``acked`` and ``nacked`` record settlements in order; ``closed`` tells
    whether the coordinator closed it.
    """

    def __init__(self, records: Iterable[T] = ()) -> None:
        self._queue: asyncio.Queue[tuple[bool, T | None]] = asyncio.Queue()
        self.acked: list[T] = []
        self.nacked: list[tuple[T, BaseException]] = []
        self.closed = False
        self.push(*records)

    def push(self, *records: T) -> None:
        for record in records:
            self._queue.put_nowait((True, record))

    def end(self) -> None:
        self._queue.put_nowait((False, None))

    async def records(self) -> AsyncIterator[T]:
        while True:
            more, record = await self._queue.get()
            if not more:
                return
            yield record  # type: ignore[misc]

    async def ack(self, record: T, /) -> None:
        self.acked.append(record)

    async def nack(self, record: T, error: BaseException, /) -> None:
        self.nacked.append((record, error))

    async def close(self) -> None:
        self.closed = True
