import asyncio
from collections.abc import Sequence

from relaybox.core.outcome import Outcome
from relaybox.pipeline.polling import PollingCoordinator
from relaybox.pipeline.streaming import StreamingCoordinator
from relaybox.testing import FakeClock, MemoryBatchSource, MemoryStreamSource, settle


class SlowMarkSource(MemoryBatchSource[str]):
    def __init__(self, records: Sequence[str]) -> None:
        super().__init__(records)
        self.release = asyncio.Event()
        self.settling = asyncio.Event()

    async def settle(self, outcome: Outcome[str], /) -> None:
        self.settling.set()
        await self.release.wait()
        await super().settle(outcome)


async def test_c10_marking_finishes_within_grace_even_when_the_run_is_cancelled() -> None:
    """Cancelling a pipeline mid-mark lets the mark finish, so delivered records stay marked."""
    clock = FakeClock()
    source = SlowMarkSource(["a", "b"])
    coordinator = PollingCoordinator(source, _deliver_all(), grace=5.0, clock=clock)
    task = asyncio.create_task(coordinator.run())
    await source.settling.wait()
    task.cancel()
    await settle()
    source.release.set()
    await asyncio.gather(task, return_exceptions=True)
    assert source.delivered == ["a", "b"]


async def test_c10_the_last_streaming_batch_is_applied_and_acked_on_stop() -> None:
    """Stopping a stream applies the batch already read and acks it; nothing is nacked."""
    clock = FakeClock()
    source = MemoryStreamSource(["a", "b", "c"])
    coordinator = StreamingCoordinator(
        source, _deliver_all(), batch_size=10, max_wait=60.0, clock=clock
    )
    task = asyncio.create_task(coordinator.run())
    await clock.wait_for_sleepers()
    await coordinator.stop()
    await task
    assert source.acked == ["a", "b", "c"]
    assert source.nacked == []


def _deliver_all() -> "DeliverAll":
    return DeliverAll()


class DeliverAll:
    async def apply(self, records: Sequence[str]) -> Outcome[str]:
        return Outcome.all_delivered(records)
