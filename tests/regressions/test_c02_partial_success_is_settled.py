import asyncio
from collections.abc import Sequence

from relaybox.core.outcome import Outcome
from relaybox.pipeline.polling import PollingCoordinator
from relaybox.pipeline.streaming import StreamingCoordinator
from relaybox.testing import FakeClock, MemoryBatchSource, MemoryStreamSource

BOOM = RuntimeError("connection lost after the first record")


class DeliversFirstThenDies:
    async def apply(self, records: Sequence[str]) -> Outcome[str]:
        return Outcome(delivered=records[:1], error=BOOM)


async def test_c02_polling_marks_delivered_records_when_the_batch_also_has_a_fatal_error() -> None:
    """Records delivered before a fatal error are marked, so they are never delivered twice."""
    source = MemoryBatchSource(["a", "b", "c"])
    coordinator = PollingCoordinator(source, DeliversFirstThenDies(), clock=FakeClock())
    result = await coordinator.run_once()
    assert source.delivered == ["a"]
    assert source.pending == ["b", "c"]
    assert [f.error for f in source.failures] == [BOOM, BOOM]
    assert result.error is BOOM


async def test_c02_streaming_acks_delivered_records_and_nacks_only_the_rest() -> None:
    """A fatal error nacks only the records that were not delivered."""
    source = MemoryStreamSource(["a", "b"])
    source.end()
    coordinator = StreamingCoordinator(
        source, DeliversFirstThenDies(), batch_size=2, clock=FakeClock()
    )
    await coordinator.run()
    assert source.acked == ["a"]
    assert source.nacked == [("b", BOOM)]


async def test_c02_a_poll_whose_applier_raises_still_accounts_for_every_record() -> None:
    """An applier that raises leaves every record failed with that exception, none lost."""

    class Raises:
        async def apply(self, records: Sequence[str]) -> Outcome[str]:
            raise BOOM

    source = MemoryBatchSource(["a", "b"])
    await PollingCoordinator(source, Raises(), clock=FakeClock()).run_once()
    assert [(f.record, f.error) for f in source.failures] == [("a", BOOM), ("b", BOOM)]
    await asyncio.sleep(0)
