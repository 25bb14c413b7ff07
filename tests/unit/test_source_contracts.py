"""Every source that ships with relaybox passes the source contract suites."""

import asyncio
from collections.abc import Hashable, Sequence
from pathlib import Path

import pytest

from relaybox.demo.table import Row, SqliteTable
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


class TestSqliteTable(BatchSourceContract[Row]):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path

    async def make_source(self, count: int) -> BatchSource[Row]:
        table = SqliteTable(self.folder / f"contract-{count}.sqlite3")
        table.insert([{"n": i} for i in range(count)])
        return table

    def key(self, record: Row) -> Hashable:
        return record.id


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
