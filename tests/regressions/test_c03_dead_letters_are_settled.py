from relaybox.core.backoff import Backoff, RetryPolicy
from relaybox.pipeline.polling import PollingCoordinator
from relaybox.pipeline.resilient import resilient
from relaybox.pipeline.streaming import StreamingCoordinator
from relaybox.testing import FakeClock, MemoryBatchSource, MemoryStreamSource, ScriptedApplier

ONE_TRY = RetryPolicy(attempts=1, backoff=Backoff(initial=0.0, max_delay=0.0))


async def test_c03_a_dead_lettered_record_is_marked_and_never_fetched_again() -> None:
    """A dead-lettered record is settled as done: stored once, never re-fetched or re-sent."""
    clock = FakeClock()
    downstream: ScriptedApplier[str] = ScriptedApplier(fail_when=lambda r: r == "poison")
    stack = resilient(downstream, retry=ONE_TRY, clock=clock)
    source = MemoryBatchSource(["ok", "poison"])
    coordinator = PollingCoordinator(source, stack, clock=clock)
    for _ in range(3):
        await coordinator.run_once()
    assert source.pending == []
    assert source.delivered == ["ok"]
    assert [f.record for f in source.dead] == ["poison"]
    assert await stack.dead_letters.count() == 1
    assert downstream.calls == [["ok", "poison"]]


async def test_c03_streaming_acks_dead_lettered_records() -> None:
    """A dead-lettered stream record is acked, so the broker does not keep it unacked forever."""
    clock = FakeClock()
    stack = resilient(
        ScriptedApplier(fail_when=lambda r: r == "poison"), retry=ONE_TRY, clock=clock
    )
    source = MemoryStreamSource(["ok", "poison"])
    source.end()
    await StreamingCoordinator(source, stack, batch_size=2, clock=clock).run()
    assert source.acked == ["ok", "poison"]
    assert source.nacked == []
