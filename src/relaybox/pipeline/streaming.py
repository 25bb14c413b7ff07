"""The streaming coordinator: batch pushed records, apply them, ack or nack each."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import FetchError
from relaybox.core.outcome import Outcome
from relaybox.core.waiting import first_of
from relaybox.pipeline import events
from relaybox.pipeline.grace import shielded
from relaybox.pipeline.lifecycle import Lifecycle, positive_int, require
from relaybox.pipeline.reporting import ErrorHandler, Reporter
from relaybox.ports.applier import Applier
from relaybox.ports.observer import Observer
from relaybox.ports.source import StreamSource

T = TypeVar("T")

_END = object()
_TICK = object()


class StreamingCoordinator(Generic[T]):
    """Reads a :class:`StreamSource`, applies records in batches, acks and nacks each.

    * A batch is flushed when it holds ``batch_size`` records (100) or when its
      oldest record has waited ``max_wait`` seconds (0.1), whichever comes first.
    * ``workers`` batches (1) are applied concurrently. With ``key``, records are
      spread over the workers by ``hash(key)``, so records with the same key
      are applied in arrival order even with many workers (keys that share a
      worker also wait for each other, as keys sharing a partition do).
    * Delivered and dead-lettered records are acked; failed ones are nacked
      with their real error. Acks and nacks get ``grace`` seconds (30) to finish
      even during shutdown.
    * ``stop()`` stops reading, applies what was already read, settles it and
      closes the source; ``run()`` also returns when the source is exhausted,
      and raises :class:`FetchError` if the source failed (after settling).
    """

    def __init__(
        self,
        source: StreamSource[T],
        applier: Applier[T],
        *,
        batch_size: int = 100,
        max_wait: float = 0.1,
        workers: int = 1,
        key: Callable[[T], Hashable] | None = None,
        grace: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
        observer: Observer | None = None,
        on_error: ErrorHandler | None = None,
        name: str = "stream",
    ) -> None:
        positive_int(batch_size, "batch_size")
        require(max_wait > 0, f"max_wait must be positive seconds, got {max_wait!r}")
        positive_int(workers, "workers")
        self._life = Lifecycle(grace, clock)
        self.source = source
        self.applier = applier
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.workers = workers
        self.key = key
        self._clock = clock
        self._report = Reporter(name, observer, on_error)
        self._source_error: BaseException | None = None
        self.batches = 0

    @property
    def running(self) -> bool:
        return self._life.active

    async def run(self) -> None:
        """Consume the source until it ends or :meth:`stop` is called."""
        with self._life.running() as stopping:
            await self._run(stopping)
        if self._source_error is not None:
            raise FetchError.caused_by(self._source_error)

    async def _run(self, stopping: asyncio.Event) -> None:
        self._source_error = None
        lanes = self.workers if self.key is not None else 1
        queues: list[asyncio.Queue[list[T] | None]] = [
            asyncio.Queue(maxsize=1 if self.key is not None else self.workers) for _ in range(lanes)
        ]
        inbox: asyncio.Queue[object] = asyncio.Queue(maxsize=self.batch_size * 2)
        try:
            async with asyncio.TaskGroup() as group:
                reader = group.create_task(self._read(inbox))
                group.create_task(self._end_on_stop(stopping, reader, inbox))
                group.create_task(self._collect(inbox, queues))
                for worker in range(self.workers):
                    group.create_task(self._work(queues[worker % lanes]))
        finally:
            await self._close_source()

    async def stop(self) -> None:
        """Stop reading, finish what was read, close the source. Idempotent."""
        await self._life.stop()

    async def process_one(self, record: T) -> Outcome[T]:
        """Apply one record now and ack or nack it; returns its outcome."""
        outcome = await self._apply([record])
        await shielded(self._settle(outcome), grace=self._life.grace, clock=self._clock)
        return outcome

    async def _read(self, inbox: asyncio.Queue[object]) -> None:
        stream = self.source.records()
        try:
            async for record in stream:
                await inbox.put(record)
        except Exception as exc:
            self._source_error = exc
            await self._report.error("source", exc)
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
        await inbox.put(_END)

    async def _end_on_stop(
        self, stopping: asyncio.Event, reader: asyncio.Task[None], inbox: asyncio.Queue[object]
    ) -> None:
        await asyncio.wait(
            (waiter := asyncio.ensure_future(stopping.wait()), reader),
            return_when=asyncio.FIRST_COMPLETED,
        )
        waiter.cancel()
        if not reader.done():
            reader.cancel()
            await asyncio.wait((reader,))
            if reader.cancelled():
                await inbox.put(_END)

    async def _collect(
        self, inbox: asyncio.Queue[object], queues: list[asyncio.Queue[list[T] | None]]
    ) -> None:
        batches: list[list[T]] = [[] for _ in queues]
        deadlines: list[float | None] = [None for _ in queues]
        clock, size = self._clock, self.batch_size
        while True:
            item = await self._next(inbox, deadlines)
            if item is _END:
                break
            now = clock.monotonic()
            if item is not _TICK:
                record: T = item  # type: ignore[assignment]
                lane = self._lane(record, len(queues))
                batch = batches[lane]
                if not batch:
                    deadlines[lane] = now + self.max_wait
                batch.append(record)
                if len(batch) >= size:
                    await self._flush(lane, batches, deadlines, queues)
            for lane, deadline in enumerate(deadlines):
                if deadline is not None and deadline <= now:
                    await self._flush(lane, batches, deadlines, queues)
        for lane in range(len(queues)):
            await self._flush(lane, batches, deadlines, queues)
        consumers = 1 if self.key is not None else self.workers
        for queue in queues:
            for _ in range(consumers):
                await queue.put(None)

    async def _next(self, inbox: asyncio.Queue[object], deadlines: list[float | None]) -> object:
        try:
            return inbox.get_nowait()
        except asyncio.QueueEmpty:
            pass
        pending = [d for d in deadlines if d is not None]
        if not pending:
            return await inbox.get()
        getter = asyncio.ensure_future(inbox.get())
        await first_of(
            getter, asyncio.ensure_future(self._clock.sleep(min(pending) - self._clock.monotonic()))
        )
        if getter.done() and not getter.cancelled():
            return getter.result()
        return _TICK

    def _lane(self, record: T, lanes: int) -> int:
        if self.key is None or lanes == 1:
            return 0
        return hash(self.key(record)) % lanes

    async def _flush(
        self,
        lane: int,
        batches: list[list[T]],
        deadlines: list[float | None],
        queues: list[asyncio.Queue[list[T] | None]],
    ) -> None:
        batch = batches[lane]
        batches[lane], deadlines[lane] = [], None
        if batch:
            await queues[lane].put(batch)

    async def _work(self, queue: asyncio.Queue[list[T] | None]) -> None:
        while (batch := await queue.get()) is not None:
            outcome = await self._apply(batch)
            await shielded(self._settle(outcome), grace=self._life.grace, clock=self._clock)

    async def _apply(self, batch: Sequence[T]) -> Outcome[T]:
        self.batches += 1
        self._report.event(events.FETCHED, count=len(batch))
        return await self._report.apply(self.applier, batch, self._clock)

    async def _settle(self, outcome: Outcome[T]) -> None:
        settled = 0
        for record in [*outcome.delivered, *(f.record for f in outcome.dead)]:
            try:
                await self.source.ack(record)
                settled += 1
            except Exception as exc:
                await self._report.error("ack", exc)
        for failure in outcome.failed:
            try:
                await self.source.nack(failure.record, failure.error)
                settled += 1
            except Exception as exc:
                await self._report.error("nack", exc)
        self._report.event(events.SETTLED, count=settled)

    async def _close_source(self) -> None:
        try:
            await shielded(self.source.close(), grace=self._life.grace, clock=self._clock)
        except Exception as exc:
            await self._report.error("source", exc)

    def __repr__(self) -> str:
        return (
            f"StreamingCoordinator(name={self._report.name!r}, running={self.running}, "
            f"batches={self.batches}, workers={self.workers}, keyed={self.key is not None})"
        )
