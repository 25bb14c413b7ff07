from __future__ import annotations

import asyncio
import threading

import pytest

from relaybox.core.errors import ConfigurationError
from relaybox.pipeline.middleware.parallel import ParallelApplier, parallel
from relaybox.testing import settle


class Broken(Exception):
    pass


def names(count: int) -> list[str]:
    return [f"r{i}" for i in range(count)]


async def test_async_fn_delivers_every_record() -> None:
    seen: list[str] = []

    async def send(record: str) -> None:
        seen.append(record)

    records = names(25)
    outcome = await parallel(send, workers=4).apply(records)
    assert list(outcome.delivered) == records
    assert sorted(seen) == sorted(records)
    assert not outcome.failed


async def test_sync_fn_runs_off_the_event_loop_thread() -> None:
    threads: set[int] = set()

    def send(record: str) -> None:
        threads.add(threading.get_ident())

    outcome = await parallel(send, workers=2).apply(names(4))
    assert len(outcome.delivered) == 4
    assert threading.get_ident() not in threads


async def test_outcome_lists_records_in_input_order_whatever_the_completion_order() -> None:
    records = names(5)
    gates = {r: asyncio.Event() for r in records}

    async def send(record: str) -> None:
        await gates[record].wait()
        if record in ("r1", "r3"):
            raise Broken(record)

    task = asyncio.create_task(parallel(send, workers=5).apply(records))
    for record in reversed(records):
        gates[record].set()
        await settle()
    outcome = await task
    assert list(outcome.delivered) == ["r0", "r2", "r4"]
    assert [f.record for f in outcome.failed] == ["r1", "r3"]


async def test_exception_fails_only_its_record_and_is_kept() -> None:
    error = Broken("bad record")

    async def send(record: str) -> None:
        if record == "r2":
            raise error

    outcome = await parallel(send).apply(names(4))
    assert list(outcome.delivered) == ["r0", "r1", "r3"]
    assert len(outcome.failed) == 1
    assert outcome.failed[0].record == "r2"
    assert outcome.failed[0].error is error
    assert outcome.error is None


async def test_at_most_workers_records_are_in_flight() -> None:
    in_flight = 0
    peak = 0
    release = asyncio.Event()

    async def send(record: str) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1

    task = asyncio.create_task(parallel(send, workers=3).apply(names(10)))
    await settle()
    assert in_flight == 3
    release.set()
    outcome = await task
    assert peak == 3
    assert len(outcome.delivered) == 10


async def test_cancelling_apply_cancels_in_flight_calls_and_leaves_no_tasks() -> None:
    started: list[str] = []
    cancelled: list[str] = []

    async def send(record: str) -> None:
        started.append(record)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(record)
            raise

    before = asyncio.all_tasks()
    task = asyncio.create_task(parallel(send, workers=2).apply(names(6)))
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == sorted(started) == ["r0", "r1"]
    assert asyncio.all_tasks() == before


async def test_fn_raising_cancelled_error_by_itself_fails_only_that_record() -> None:
    async def send(record: str) -> None:
        if record == "r1":
            raise asyncio.CancelledError

    outcome = await parallel(send, workers=1).apply(names(3))
    assert list(outcome.delivered) == ["r0", "r2"]
    assert [f.record for f in outcome.failed] == ["r1"]
    assert isinstance(outcome.failed[0].error, asyncio.CancelledError)


async def test_empty_batch_calls_nothing() -> None:
    calls: list[str] = []

    async def send(record: str) -> None:
        calls.append(record)

    outcome = await parallel(send).apply([])
    assert outcome.count == 0
    assert calls == []


@pytest.mark.parametrize("workers", [0, -2, 2.5, False])
def test_invalid_workers_is_a_configuration_error(workers: object) -> None:
    with pytest.raises(ConfigurationError, match="workers must be a positive int"):
        parallel(print, workers=workers)  # type: ignore[arg-type]


def test_non_callable_fn_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="fn must be a function"):
        parallel("send")  # type: ignore[arg-type]


async def test_repr_shows_workers_and_records_in_flight() -> None:
    release = asyncio.Event()

    async def send(record: str) -> None:
        await release.wait()

    applier = ParallelApplier(send, workers=4)
    task = asyncio.create_task(applier.apply(names(2)))
    await settle()
    assert "workers=4" in repr(applier)
    assert "in_flight=2" in repr(applier)
    release.set()
    await task
    assert "in_flight=0" in repr(applier)
