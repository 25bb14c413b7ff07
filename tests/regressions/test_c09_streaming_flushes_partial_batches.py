import asyncio

from relaybox.pipeline.streaming import StreamingCoordinator
from relaybox.testing import FakeClock, MemoryStreamSource, ScriptedApplier


async def test_c09_a_partial_batch_is_applied_after_max_wait_on_a_quiet_stream() -> None:
    """A quiet stream never strands records: a partial batch is flushed after max_wait."""
    clock = FakeClock()
    applier: ScriptedApplier[str] = ScriptedApplier()
    source = MemoryStreamSource(["only one"])
    coordinator = StreamingCoordinator(source, applier, batch_size=100, max_wait=2.0, clock=clock)
    task = asyncio.create_task(coordinator.run())
    await clock.wait_for_sleepers()
    await clock.advance(1.9)
    assert applier.calls == []
    await clock.advance(0.1)
    assert applier.calls == [["only one"]]
    assert source.acked == ["only one"]
    await coordinator.stop()
    await task
