import asyncio

from relaybox.core.backoff import Backoff
from relaybox.pipeline.polling import PollingCoordinator
from relaybox.testing import FakeClock, MemoryBatchSource, ScriptedApplier


async def test_c12_batch_size_reaches_the_source() -> None:
    """The configured batch size is passed to every fetch, not merely stored."""
    source = MemoryBatchSource([str(i) for i in range(10)])
    coordinator = PollingCoordinator(source, ScriptedApplier[str](), batch_size=4)
    await coordinator.run_once()
    assert source.fetch_limits == [4]


async def test_c12_failed_polls_wait_the_configured_error_backoff() -> None:
    """The error backoff setting decides how long to wait after a failed poll."""
    clock = FakeClock()
    source: MemoryBatchSource[str] = MemoryBatchSource()
    source.fetch_error = OSError("down")
    coordinator = PollingCoordinator(
        source,
        ScriptedApplier[str](),
        error_backoff=Backoff(initial=7.0, max_delay=7.0, jitter=0.0),
        clock=clock,
    )
    task = asyncio.create_task(coordinator.run())
    await clock.wait_for_sleepers()
    assert clock.slept == [7.0]
    await coordinator.stop()
    await task
