import asyncio
import threading

import pytest

from relaybox.core.errors import ConfigurationError, PermanentError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.sources import FunctionSource, IterableSource, QueueSource
from relaybox.testing import wait_until


async def test_function_source_passes_the_limit_and_marks_delivered_and_dead() -> None:
    limits: list[int] = []
    marked: list[list[str]] = []

    async def fetch(limit: int) -> list[str]:
        limits.append(limit)
        return ["a", "b", "c"][:limit]

    source = FunctionSource(fetch, marked.append)
    assert await source.fetch(2) == ["a", "b"]
    await source.settle(Outcome(["a"], [Failure("c", OSError())], [Failure("b", ValueError())]))
    assert limits == [2]
    assert marked == [["a", "b"]]


async def test_function_source_runs_sync_functions_off_the_event_loop() -> None:
    threads: list[int] = []

    def fetch(limit: int) -> list[int]:
        threads.append(threading.get_ident())
        return [1]

    source = FunctionSource(fetch, lambda records: None)
    await source.fetch(10)
    assert threads
    assert threads[0] != threading.get_ident()


async def test_function_source_reports_failures_and_dead_to_their_callbacks() -> None:
    failed: list[list[Failure[str]]] = []
    dead: list[list[Failure[str]]] = []
    marked: list[list[str]] = []
    source = FunctionSource(
        lambda limit: [], marked.append, on_failed=failed.append, on_dead=dead.append
    )
    error = OSError("down")
    await source.settle(Outcome(["ok"], [Failure("x", error)], [Failure("y", error)]))
    assert marked == [["ok"]]
    assert [[f.record for f in batch] for batch in failed] == [["x"]]
    assert [[f.record for f in batch] for batch in dead] == [["y"]]


def test_function_source_rejects_a_fetch_without_a_limit_parameter() -> None:
    with pytest.raises(ConfigurationError, match="limit"):
        FunctionSource(lambda: [], lambda records: None)  # type: ignore[arg-type,misc]


async def test_queue_source_yields_queued_records_until_closed() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(3):
        queue.put_nowait(i)
    source = QueueSource(queue)
    seen: list[int] = []

    async def consume() -> None:
        async for record in source.records():
            seen.append(record)

    task = asyncio.create_task(consume())
    await wait_until(lambda: len(seen) == 3, what="three records")
    await source.close()
    await asyncio.wait_for(task, 5)
    assert seen == [0, 1, 2]


async def test_queue_source_requeues_nacked_records_unless_permanent() -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    acked: list[str] = []
    source = QueueSource(queue, on_ack=acked.append, requeue=True)
    await source.ack("a")
    await source.nack("b", OSError("later"))
    await source.nack("c", PermanentError("never"))
    assert acked == ["a"]
    assert queue.get_nowait() == "b"
    assert queue.empty()


async def test_iterable_source_ends_with_its_items_and_keeps_settlements() -> None:
    source = IterableSource(["a", "b"])
    assert [r async for r in source.records()] == ["a", "b"]
    error = OSError("x")
    await source.ack("a")
    await source.nack("b", error)
    assert source.acked == ["a"]
    assert source.nacked == [("b", error)]


async def test_iterable_source_accepts_async_iterables() -> None:
    async def numbers():  # type: ignore[no-untyped-def]
        for i in range(3):
            yield i

    source = IterableSource(numbers())
    assert [r async for r in source.records()] == [0, 1, 2]
