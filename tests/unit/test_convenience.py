import asyncio

import pytest

from relaybox.core.backoff import Backoff
from relaybox.core.errors import ConfigurationError, FetchError
from relaybox.pipeline.convenience import sync, sync_batch, sync_once, sync_with_retry
from relaybox.testing import FakeClock


class Table:
    def __init__(self, *rows: str) -> None:
        self.rows = list(rows)
        self.marked: list[str] = []

    def fetch(self, limit: int) -> list[str]:
        return [r for r in self.rows if r not in self.marked][:limit]

    def mark(self, records: list[str]) -> None:
        self.marked.extend(records)


async def test_sync_marks_the_records_whose_processing_succeeded() -> None:
    table = Table("a", "bad", "c")

    def handle(record: str) -> None:
        if record == "bad":
            raise ValueError(record)

    coordinator = sync(table.fetch, handle, table.mark, batch_size=10)
    result = await coordinator.run_once()
    assert table.marked == ["a", "c"]
    assert [f.record for f in result.outcome.failed] == ["bad"]
    assert coordinator.batch_size == 10


async def test_sync_batch_is_all_or_nothing() -> None:
    table = Table("a", "b")

    async def bulk(records: object) -> None:
        raise OSError("bulk failed")

    result = await sync_batch(table.fetch, bulk, table.mark).run_once()
    assert table.marked == []
    assert result.failed == 2


async def test_sync_with_retry_retries_a_record_until_it_succeeds() -> None:
    table = Table("flaky")
    calls: list[str] = []

    async def handle(record: str) -> None:
        calls.append(record)
        if len(calls) < 3:
            raise OSError("blip")

    coordinator = sync_with_retry(
        table.fetch, handle, table.mark, 3, backoff=Backoff(initial=0.0, max_delay=0.0)
    )
    await coordinator.run_once()
    assert calls == ["flaky"] * 3
    assert table.marked == ["flaky"]


async def test_sync_with_retry_waits_on_the_given_clock() -> None:
    clock = FakeClock()
    table = Table("flaky")
    attempts: list[int] = []

    async def handle(record: str) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("blip")

    coordinator = sync_with_retry(
        table.fetch,
        handle,
        table.mark,
        2,
        backoff=Backoff(initial=1.0, jitter=0.0),
        clock=clock,
    )
    task = asyncio.create_task(coordinator.run_once())
    await clock.wait_for_sleepers()
    assert clock.slept == [1.0]
    await clock.advance(1.0)
    await task
    assert table.marked == ["flaky"]


def test_sync_with_retry_rejects_zero_attempts_with_a_hint() -> None:
    table = Table()
    with pytest.raises(ConfigurationError, match="attempts=None"):
        sync_with_retry(table.fetch, lambda r: None, table.mark, 0)


async def test_run_once_returns_the_failures_with_their_real_errors() -> None:
    table = Table("a", "b")
    boom = ValueError("bad b")

    def handle(record: str) -> None:
        if record == "b":
            raise boom

    result = await sync_once(table.fetch, handle, table.mark)
    assert table.marked == ["a"]
    assert [(f.record, f.error) for f in result.outcome.failed] == [("b", boom)]
    assert result.error is None


async def test_run_once_reports_a_fetch_error_and_can_raise_it() -> None:
    def fetch(limit: int) -> list[str]:
        raise OSError("db down")

    result = await sync_once(fetch, lambda r: None, lambda rs: None)
    assert isinstance(result.error, FetchError)
    with pytest.raises(FetchError):
        result.raise_for_error()
