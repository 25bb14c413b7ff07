from __future__ import annotations

import asyncio

import pytest

from relaybox.pipeline.middleware.parallel import parallel
from relaybox.testing import settle


class Rejected(Exception):
    pass


async def test_c17_parallel_keeps_input_order() -> None:
    """Outcomes list records in input order even when later records finish first."""
    records = [f"r{i}" for i in range(6)]
    gates = {r: asyncio.Event() for r in records}

    async def send(record: str) -> None:
        await gates[record].wait()
        if record == "r4":
            raise Rejected(record)

    task = asyncio.create_task(parallel(send, workers=6).apply(records))
    for record in reversed(records):
        gates[record].set()
        await settle()
    outcome = await task
    assert list(outcome.delivered) == ["r0", "r1", "r2", "r3", "r5"]
    assert [f.record for f in outcome.failed] == ["r4"]


async def test_c17_parallel_captures_exceptions() -> None:
    """An exception in the function fails only its record, keeping the exception, not the batch."""
    error = Rejected("bad payload")

    def send(record: str) -> None:
        if record == "r1":
            raise error

    outcome = await parallel(send, workers=3).apply(["r0", "r1", "r2"])
    assert list(outcome.delivered) == ["r0", "r2"]
    assert [(f.record, f.error) for f in outcome.failed] == [("r1", error)]
    assert outcome.error is None


async def test_c17_parallel_honours_cancellation() -> None:
    """Cancelling the apply cancels every in-flight call and starts no new ones."""
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
    task = asyncio.create_task(parallel(send, workers=3).apply([f"r{i}" for i in range(9)]))
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settle()
    assert started == ["r0", "r1", "r2"]
    assert sorted(cancelled) == started
    assert asyncio.all_tasks() == before
