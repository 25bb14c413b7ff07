"""Ready-made sources: from plain functions, from an ``asyncio.Queue``, from an iterable."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Generic, TypeVar

from relaybox.core.calls import to_async
from relaybox.core.errors import ConfigurationError, is_permanent
from relaybox.core.outcome import Failure, Outcome
from relaybox.core.waiting import first_of

T = TypeVar("T")

FetchFn = Callable[[int], Sequence[T]] | Callable[[int], Awaitable[Sequence[T]]]
MarkFn = Callable[[list[T]], object] | Callable[[list[T]], Awaitable[object]]
FailuresFn = Callable[[list[Failure[T]]], object] | Callable[[list[Failure[T]]], Awaitable[object]]
AckFn = Callable[[T], object] | Callable[[T], Awaitable[object]]
NackFn = Callable[[T, BaseException], object] | Callable[[T, BaseException], Awaitable[object]]


class FunctionSource(Generic[T]):
    """A batch source from functions; each may be ``def`` (run in a thread) or ``async def``.

    * ``fetch(limit)`` returns up to ``limit`` records not yet done.
    * ``mark(records)`` records them as done. It receives the delivered records
      and, unless ``on_dead`` is given, the dead-lettered ones too, so a record
      handled for good is never fetched again.
    * ``on_dead(failures)`` (optional) records dead-lettered records itself.
    * ``on_failed(failures)`` (optional) is told about retryable failures with
      their errors, e.g. to store an attempt count; without it they are simply
      left for the next fetch.
    """

    def __init__(
        self,
        fetch: FetchFn[T],
        mark: MarkFn[T],
        *,
        on_failed: FailuresFn[T] | None = None,
        on_dead: FailuresFn[T] | None = None,
    ) -> None:
        _require_one_argument(fetch, "fetch", "the batch size limit")
        self._fetch = to_async(fetch)
        self._mark = to_async(mark)
        self._on_failed = to_async(on_failed) if on_failed else None
        self._on_dead = to_async(on_dead) if on_dead else None

    async def fetch(self, limit: int, /) -> Sequence[T]:
        return await self._fetch(limit)

    async def settle(self, outcome: Outcome[T], /) -> None:
        done = list(outcome.delivered)
        if self._on_dead is None:
            done.extend(f.record for f in outcome.dead)
        elif outcome.dead:
            await self._on_dead(list(outcome.dead))
        if done:
            await self._mark(done)
        if self._on_failed is not None and outcome.failed:
            await self._on_failed(list(outcome.failed))


class QueueSource(Generic[T]):
    """A stream source reading an :class:`asyncio.Queue` until closed.

    ``on_ack(record)`` and ``on_nack(record, error)`` are optional callbacks;
    with ``requeue=True`` a nacked record is put back at the end of the queue
    (unless the error is permanent). ``close()`` ends the stream at once.
    """

    def __init__(
        self,
        queue: asyncio.Queue[T],
        *,
        on_ack: AckFn[T] | None = None,
        on_nack: NackFn[T] | None = None,
        requeue: bool = False,
    ) -> None:
        self._queue = queue
        self._on_ack = to_async(on_ack) if on_ack else None
        self._on_nack = to_async(on_nack) if on_nack else None
        self._requeue = requeue
        self._closed = asyncio.Event()

    async def records(self) -> AsyncIterator[T]:
        while not self._closed.is_set():
            try:
                yield self._queue.get_nowait()
                continue
            except asyncio.QueueEmpty:
                pass
            getter = asyncio.ensure_future(self._queue.get())
            await first_of(getter, asyncio.ensure_future(self._closed.wait()))
            if getter.done() and not getter.cancelled():
                yield getter.result()

    async def ack(self, record: T, /) -> None:
        if self._on_ack is not None:
            await self._on_ack(record)

    async def nack(self, record: T, error: BaseException, /) -> None:
        if self._on_nack is not None:
            await self._on_nack(record, error)
        if self._requeue and not self._closed.is_set() and not is_permanent(error):
            self._queue.put_nowait(record)

    async def close(self) -> None:
        self._closed.set()

    def __repr__(self) -> str:
        return f"QueueSource(queued={self._queue.qsize()}, closed={self._closed.is_set()})"


class IterableSource(Generic[T]):
    """A stream source over an iterable or async iterable; it ends when the items do.

    ``acked`` and ``nacked`` keep what happened to each record, which makes it
    handy for scripts and tests.
    """

    def __init__(
        self,
        items: Iterable[T] | AsyncIterable[T],
        *,
        on_ack: AckFn[T] | None = None,
        on_nack: NackFn[T] | None = None,
    ) -> None:
        self._items = items
        self._on_ack = to_async(on_ack) if on_ack else None
        self._on_nack = to_async(on_nack) if on_nack else None
        self.acked: list[T] = []
        self.nacked: list[tuple[T, BaseException]] = []
        self.closed = False

    async def records(self) -> AsyncIterator[T]:
        if isinstance(self._items, AsyncIterable):
            async for item in self._items:
                if self.closed:
                    return
                yield item
            return
        for item in self._items:
            if self.closed:
                return
            yield item

    async def ack(self, record: T, /) -> None:
        self.acked.append(record)
        if self._on_ack is not None:
            await self._on_ack(record)

    async def nack(self, record: T, error: BaseException, /) -> None:
        self.nacked.append((record, error))
        if self._on_nack is not None:
            await self._on_nack(record, error)

    async def close(self) -> None:
        self.closed = True

    def __repr__(self) -> str:
        return f"IterableSource(acked={len(self.acked)}, nacked={len(self.nacked)})"


def _require_one_argument(fn: Callable[..., object], name: str, what: str) -> None:
    try:
        inspect.signature(fn).bind(0)
    except TypeError as exc:
        raise ConfigurationError(
            f"{name} must accept one positional argument ({what}); "
            f"write it as `def {name}(limit): ...`"
        ) from exc
    except ValueError:  # builtins without a signature: trust them
        return
