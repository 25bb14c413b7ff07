"""Contract suites: the behaviour every source must have, as reusable tests.

Subclass one in a pytest module (the class name must start with ``Test``) and
implement the factory; pytest then runs every ``test_*`` method against your
source. The suites use plain ``assert`` and need ``pytest-asyncio`` (or any
runner of async test methods)::

    class TestOrdersTable(BatchSourceContract[Order]):
        async def make_source(self, count: int) -> BatchSource[Order]:
            return OrdersTable(await fresh_database(rows=count))

        def key(self, record: Order) -> Hashable:
            return record.id
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Hashable, Sequence
from typing import Generic, TypeVar

from relaybox.core.errors import PermanentError
from relaybox.core.outcome import Failure, Outcome
from relaybox.ports.source import BatchSource, StreamSource

T = TypeVar("T")


class BatchSourceContract(Generic[T]):
    """What :class:`~relaybox.ports.source.BatchSource` promises.

    Implement :meth:`make_source` (a source holding ``count`` pending records)
    and, when records fetched twice are different objects, :meth:`key`.
    """

    async def make_source(self, count: int) -> BatchSource[T]:
        raise NotImplementedError("return a source holding `count` pending records")

    def key(self, record: T) -> Hashable:
        """What identifies a record across fetches (default: the record itself)."""
        return record

    async def test_fetch_returns_at_most_the_limit(self) -> None:
        source = await self.make_source(5)
        assert len(await source.fetch(3)) == 3
        assert len(await source.fetch(10)) == 5

    async def test_an_empty_source_returns_an_empty_batch(self) -> None:
        source = await self.make_source(0)
        assert list(await source.fetch(10)) == []

    async def test_delivered_records_are_never_fetched_again(self) -> None:
        source = await self.make_source(4)
        batch = await source.fetch(2)
        await source.settle(Outcome.all_delivered(batch))
        delivered = {self.key(r) for r in batch}
        rest = await source.fetch(10)
        assert len(rest) == 2
        assert not delivered & {self.key(r) for r in rest}

    async def test_dead_records_are_never_fetched_again(self) -> None:
        source = await self.make_source(3)
        batch = await source.fetch(3)
        poison = batch[0]
        await source.settle(
            Outcome(delivered=batch[1:], dead=[Failure(poison, PermanentError("poison"))])
        )
        assert list(await source.fetch(10)) == []

    async def test_failed_records_are_offered_again(self) -> None:
        source = await self.make_source(2)
        batch = await source.fetch(2)
        failed, done = batch[0], batch[1]
        await source.settle(Outcome(delivered=[done], failed=[Failure(failed, OSError("busy"))]))
        again = await source.fetch(10)
        assert [self.key(r) for r in again] == [self.key(failed)]

    async def test_settling_an_empty_outcome_changes_nothing(self) -> None:
        source = await self.make_source(2)
        await source.settle(Outcome())
        assert len(await source.fetch(10)) == 2


class StreamSourceContract(Generic[T]):
    """What :class:`~relaybox.ports.source.StreamSource` promises.

    Implement :meth:`make_source`, returning a source that will yield
    ``records`` in order (it may keep running afterwards until closed). A
    broker's source yields its own objects for what was sent: override
    :meth:`identity` to compare them by what survives the trip (a payload).
    Set ``redelivers_nacked`` when a record nacked with a temporary error
    comes back on the same stream (brokers do; in-memory sources drop it).
    """

    redelivers_nacked = False

    async def make_source(self, records: Sequence[T]) -> StreamSource[T]:
        raise NotImplementedError("return a source that yields `records` in order")

    def make_records(self, count: int) -> list[T]:
        """Distinct records for the tests (default: the integers 0..count-1)."""
        return list(range(count))  # type: ignore[arg-type]

    def identity(self, record: T) -> Hashable:
        """What a record read back must equal of the record made (default: itself)."""
        return record

    def _same(self, read: Sequence[T], made: Sequence[T]) -> bool:
        return [self.identity(r) for r in read] == [self.identity(r) for r in made]

    async def _read(self, source: StreamSource[T], count: int) -> list[T]:
        seen: list[T] = []
        if count == 0:
            return seen
        stream = source.records()
        async for record in stream:
            seen.append(record)
            if len(seen) == count:
                break
        await _end(stream)
        return seen

    async def test_records_arrive_in_order(self) -> None:
        records = self.make_records(5)
        source = await self.make_source(records)
        assert self._same(await self._read(source, 5), records)
        await source.close()

    async def test_ack_and_nack_accept_records_with_their_error(self) -> None:
        records = self.make_records(2)
        source = await self.make_source(records)
        first, second = await self._read(source, 2)
        await source.ack(first)
        await source.nack(second, OSError("downstream busy"))
        await source.close()

    async def test_close_is_idempotent_and_ends_the_stream(self) -> None:
        source = await self.make_source(self.make_records(0))
        await source.close()
        await source.close()
        assert [r async for r in source.records()] == []

    async def test_a_record_nacked_as_temporary_is_offered_again(self) -> None:
        if not self.redelivers_nacked:
            return
        records = self.make_records(1)
        source = await self.make_source(records)
        stream = source.records()
        first = await anext(stream)
        await source.nack(first, OSError("downstream busy"))
        again = await anext(stream)
        assert self.identity(again) == self.identity(records[0])
        await source.ack(again)
        await _end(stream)
        await source.close()


async def _end(stream: object) -> None:
    """Close a generator a test stopped reading, as a coordinator does, not left to GC."""
    if isinstance(stream, AsyncGenerator):
        await stream.aclose()
