"""Every source that ships with relaybox passes the source contract suites."""

import asyncio
from collections.abc import Sequence

from relaybox.pipeline.sources import FunctionSource, IterableSource, QueueSource
from relaybox.ports.source import BatchSource, StreamSource
from relaybox.testing import MemoryBatchSource, MemoryStreamSource
from relaybox.testing.contracts import BatchSourceContract, StreamSourceContract


class TestMemoryBatchSource(BatchSourceContract[int]):
    async def make_source(self, count: int) -> BatchSource[int]:
        return MemoryBatchSource(range(count))


class TestFunctionSource(BatchSourceContract[int]):
    async def make_source(self, count: int) -> BatchSource[int]:
        done: set[int] = set()

        def fetch(limit: int) -> list[int]:
            return [r for r in range(count) if r not in done][:limit]

        return FunctionSource(fetch, done.update)


class TestMemoryStreamSource(StreamSourceContract[int]):
    async def make_source(self, records: Sequence[int]) -> StreamSource[int]:
        source: MemoryStreamSource[int] = MemoryStreamSource(records)
        source.end()
        return source


class TestQueueSource(StreamSourceContract[int]):
    async def make_source(self, records: Sequence[int]) -> StreamSource[int]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for record in records:
            queue.put_nowait(record)
        return QueueSource(queue)


class TestIterableSource(StreamSourceContract[int]):
    async def make_source(self, records: Sequence[int]) -> StreamSource[int]:
        return IterableSource(records)
