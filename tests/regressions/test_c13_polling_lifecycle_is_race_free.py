import asyncio

import pytest

from relaybox.core.errors import CoordinatorRunningError
from relaybox.pipeline.polling import PollingCoordinator
from relaybox.testing import FakeClock, MemoryBatchSource, ScriptedApplier


def make() -> tuple[PollingCoordinator[str], FakeClock]:
    clock = FakeClock()
    return PollingCoordinator(MemoryBatchSource(["a"]), ScriptedApplier[str](), clock=clock), clock


async def test_c13_concurrent_stops_are_safe() -> None:
    """Several concurrent stop() calls all return once the run has ended; none fails."""
    coordinator, clock = make()
    task = asyncio.create_task(coordinator.run())
    await clock.wait_for_sleepers()
    await asyncio.gather(*(coordinator.stop() for _ in range(5)))
    assert task.done()
    assert task.exception() is None


async def test_c13_run_once_and_a_second_run_are_refused_while_running() -> None:
    """run_once() and a second run() raise while a run is active, instead of racing it."""
    coordinator, clock = make()
    task = asyncio.create_task(coordinator.run())
    await clock.wait_for_sleepers()
    with pytest.raises(CoordinatorRunningError):
        await coordinator.run_once()
    with pytest.raises(CoordinatorRunningError):
        await coordinator.run()
    await coordinator.stop()
    await task


async def test_c13_a_run_started_while_run_once_is_in_flight_is_refused() -> None:
    """The running check and the start are one step: run() cannot slip in beside run_once()."""
    coordinator, _ = make()
    once = asyncio.create_task(coordinator.run_once())
    await asyncio.sleep(0)
    with pytest.raises(CoordinatorRunningError):
        await coordinator.run()
    assert (await once).delivered == 1
