import asyncio

from relaybox.pipeline.convenience import sync_once
from relaybox.pipeline.polling import PollingCoordinator
from relaybox.pipeline.sources import QueueSource
from relaybox.pipeline.streaming import StreamingCoordinator
from relaybox.testing import FakeClock, MemoryBatchSource, ScriptedApplier, wait_until


async def test_c22_run_once_reports_each_failed_record_with_its_own_error() -> None:
    """run_once names the failed records and keeps each one's exception."""
    errors = {"x": ValueError("x is malformed"), "y": OSError("y timed out")}

    def handle(record: str) -> None:
        if record in errors:
            raise errors[record]

    result = await sync_once(lambda limit: ["x", "ok", "y"], handle, lambda records: None)
    assert {f.record: f.error for f in result.outcome.failed} == errors


async def test_c22_a_stopped_run_returns_normally_whatever_stopped_it() -> None:
    """run() returns None after stop(); no error type is mistaken for a crash."""
    clock = FakeClock()
    coordinator = PollingCoordinator(MemoryBatchSource[str](), ScriptedApplier[str](), clock=clock)
    task = asyncio.create_task(coordinator.run())
    await clock.wait_for_sleepers()
    await coordinator.stop()
    assert await task is None


async def test_c22_a_queue_source_and_the_workers_option_exist_as_documented() -> None:
    """The documented queue-backed stream source and ``workers=`` option are real."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    queue.put_nowait("a")
    source = QueueSource(queue)
    applier: ScriptedApplier[str] = ScriptedApplier()
    coordinator = StreamingCoordinator(source, applier, workers=4, max_wait=0.01)
    task = asyncio.create_task(coordinator.run())
    await wait_until(lambda: applier.delivered, what="the queued record to be applied")
    await coordinator.stop()
    await task
    assert applier.delivered == ["a"]
