import asyncio
from collections.abc import Sequence

from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.streaming import StreamingCoordinator
from relaybox.testing import FakeClock, MemoryStreamSource, settle


async def test_c11_stop_waits_returns_cleanly_and_closes_the_source() -> None:
    """stop() waits for the run to end, run() returns None, and the source is closed."""
    release = asyncio.Event()

    class Slow:
        async def apply(self, records: Sequence[str]) -> Outcome[str]:
            await release.wait()
            return Outcome.all_delivered(records)

    source = MemoryStreamSource(["a"])
    coordinator = StreamingCoordinator(source, Slow(), batch_size=1, clock=FakeClock())
    task = asyncio.create_task(coordinator.run())
    await settle()
    stopping = asyncio.create_task(coordinator.stop())
    await settle()
    assert not stopping.done()
    release.set()
    await stopping
    assert task.done()
    assert task.result() is None
    assert source.closed


async def test_c11_a_nack_carries_the_real_error_of_the_failure() -> None:
    """Nacks say why: the failure's own exception, not an empty wrapper."""
    cause = TimeoutError("index refused the write")

    class Fails:
        async def apply(self, records: Sequence[str]) -> Outcome[str]:
            return Outcome(failed=[Failure(r, cause) for r in records])

    source = MemoryStreamSource(["a"])
    source.end()
    await StreamingCoordinator(source, Fails(), clock=FakeClock()).run()
    assert source.nacked == [("a", cause)]


async def test_c11_many_workers_keep_per_key_order_across_batches() -> None:
    """With a key, batches of one key are never applied out of order by parallel workers."""
    applied: list[tuple[int, int]] = []

    class Records:
        async def apply(self, records: Sequence[tuple[int, int]]) -> Outcome[tuple[int, int]]:
            for record in records:
                for _ in range(3 - record[0] % 3):  # uneven work per key
                    await asyncio.sleep(0)
                applied.append(record)
            return Outcome.all_delivered(records)

    source: MemoryStreamSource[tuple[int, int]] = MemoryStreamSource(
        [(key, seq) for seq in range(20) for key in range(6)]
    )
    source.end()
    coordinator = StreamingCoordinator(
        source, Records(), batch_size=2, workers=4, key=lambda r: r[0], clock=FakeClock()
    )
    await coordinator.run()
    for key in range(6):
        assert [seq for k, seq in applied if k == key] == list(range(20))
