import asyncio
from collections.abc import Sequence

import pytest

from relaybox.core.backoff import Backoff
from relaybox.core.errors import (
    CircuitOpenError,
    ConfigurationError,
    CoordinatorRunningError,
    FetchError,
    SettleError,
)
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline import events
from relaybox.pipeline.polling import PollingCoordinator
from relaybox.testing import (
    FakeClock,
    MemoryBatchSource,
    RecordingObserver,
    ScriptedApplier,
    settle,
)

NO_JITTER = Backoff(initial=1.0, max_delay=8.0, multiplier=2.0, jitter=0.0)


def make(
    records: Sequence[str] = (), applier: object = None, **options: object
) -> tuple[PollingCoordinator[str], MemoryBatchSource[str], FakeClock]:
    clock = FakeClock()
    source: MemoryBatchSource[str] = MemoryBatchSource(records)
    options.setdefault("error_backoff", NO_JITTER)
    coordinator = PollingCoordinator(
        source,
        applier or ScriptedApplier(),  # type: ignore[arg-type]
        clock=clock,
        **options,  # type: ignore[arg-type]
    )
    return coordinator, source, clock


async def test_first_poll_runs_at_once_then_every_interval() -> None:
    coordinator, source, clock = make(interval=5.0)
    task = asyncio.create_task(coordinator.run())
    await clock.wait_for_sleepers()
    assert len(source.fetch_limits) == 1
    assert clock.slept == [5.0]
    source.add("a")
    await clock.advance(5.0)
    await clock.wait_for_sleepers()
    assert source.delivered == ["a"]
    assert len(source.fetch_limits) == 2
    await coordinator.stop()
    await task


async def test_batch_size_is_passed_to_the_source() -> None:
    coordinator, source, _ = make(["a", "b", "c"], batch_size=2)
    result = await coordinator.run_once()
    assert source.fetch_limits == [2]
    assert result.fetched == 2
    assert source.pending == ["c"]


async def test_a_full_batch_that_progressed_is_followed_by_an_immediate_poll() -> None:
    coordinator, source, clock = make([str(i) for i in range(5)], batch_size=2, interval=5.0)
    task = asyncio.create_task(coordinator.run())
    await clock.wait_for_sleepers()
    assert source.delivered == ["0", "1", "2", "3", "4"]
    assert source.fetch_limits == [2, 2, 2]
    assert clock.slept == [5.0]
    await coordinator.stop()
    await task


async def test_a_full_batch_without_progress_waits_the_interval() -> None:
    applier: ScriptedApplier[str] = ScriptedApplier(fail_when=lambda r: True)
    coordinator, source, clock = make(["a", "b"], applier, batch_size=2, interval=5.0)
    task = asyncio.create_task(coordinator.run())
    await clock.wait_for_sleepers()
    assert len(source.fetch_limits) == 1
    assert clock.slept == [5.0]
    await coordinator.stop()
    await task


async def test_failed_polls_back_off_exponentially_and_reset_after_success() -> None:
    coordinator, source, clock = make(interval=5.0)
    source.fetch_error = OSError("db down")
    task = asyncio.create_task(coordinator.run())
    await clock.wait_for_sleepers()
    source.fetch_error = OSError("still down")
    await clock.advance(1.0)
    await clock.wait_for_sleepers()
    await clock.advance(2.0)
    await clock.wait_for_sleepers()
    assert clock.slept == [1.0, 2.0, 5.0]
    await coordinator.stop()
    await task


async def test_retry_after_of_a_temporary_error_stretches_the_backoff() -> None:
    class Open:
        async def apply(self, records: Sequence[str]) -> Outcome[str]:
            error = CircuitOpenError(retry_after=42.0)
            return Outcome.all_failed(records, error, fatal=True)

    coordinator, _, clock = make(["a"], Open())
    task = asyncio.create_task(coordinator.run())
    await clock.wait_for_sleepers()
    assert clock.slept == [42.0]
    await coordinator.stop()
    await task


async def test_fetch_errors_are_wrapped_reported_and_returned() -> None:
    seen: list[BaseException] = []
    coordinator, source, _ = make(on_error=seen.append)
    source.fetch_error = OSError("db down")
    result = await coordinator.run_once()
    assert isinstance(result.error, FetchError)
    assert isinstance(result.error.__cause__, OSError)
    assert seen == [result.error]


async def test_delivered_records_are_settled_even_with_a_fatal_error() -> None:
    boom = RuntimeError("broker lost")

    class Partial:
        async def apply(self, records: Sequence[str]) -> Outcome[str]:
            return Outcome(delivered=records[:1], error=boom)

    coordinator, source, _ = make(["a", "b"], Partial())
    result = await coordinator.run_once()
    assert source.delivered == ["a"]
    assert [(f.record, f.error) for f in source.failures] == [("b", boom)]
    assert result.error is boom


async def test_an_applier_that_raises_fails_every_record_with_its_exception() -> None:
    boom = RuntimeError("bug")

    class Raises:
        async def apply(self, records: Sequence[str]) -> Outcome[str]:
            raise boom

    coordinator, source, _ = make(["a", "b"], Raises())
    result = await coordinator.run_once()
    assert [f.error for f in source.failures] == [boom, boom]
    assert result.error is boom


async def test_dead_records_are_settled_as_done_and_never_fetched_again() -> None:
    class DeadLetters:
        async def apply(self, records: Sequence[str]) -> Outcome[str]:
            return Outcome(dead=[Failure(r, ValueError("poison")) for r in records])

    coordinator, source, _ = make(["a"], DeadLetters())
    await coordinator.run_once()
    assert source.pending == []
    assert [f.record for f in source.dead] == ["a"]
    result = await coordinator.run_once()
    assert result.fetched == 0


async def test_settle_errors_are_reported_as_settle_errors() -> None:
    coordinator, source, _ = make(["a"])
    source.settle_error = OSError("lost connection")
    result = await coordinator.run_once()
    assert isinstance(result.error, SettleError)
    assert result.error.count == 1
    assert isinstance(result.error.__cause__, OSError)


async def test_stop_waits_for_the_poll_in_flight_and_settles_it() -> None:
    release = asyncio.Event()

    class Slow:
        async def apply(self, records: Sequence[str]) -> Outcome[str]:
            await release.wait()
            return Outcome.all_delivered(records)

    coordinator, source, _ = make(["a"], Slow())
    task = asyncio.create_task(coordinator.run())
    await settle()
    stopper = asyncio.create_task(coordinator.stop())
    await settle()
    assert not stopper.done()
    release.set()
    await stopper
    assert source.delivered == ["a"]
    assert task.done()
    assert not coordinator.running


async def test_stop_is_idempotent_and_safe_concurrently() -> None:
    coordinator, _, clock = make()
    await coordinator.stop()  # not running: nothing to do
    task = asyncio.create_task(coordinator.run())
    await clock.wait_for_sleepers()
    await asyncio.gather(coordinator.stop(), coordinator.stop())
    await coordinator.stop()
    assert task.done()
    assert task.exception() is None


async def test_stop_cancels_after_the_grace_period_but_lets_settle_finish() -> None:
    class Stuck:
        async def apply(self, records: Sequence[str]) -> Outcome[str]:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    coordinator, _, clock = make(["a"], Stuck(), grace=10.0)
    task = asyncio.create_task(coordinator.run())
    await settle()
    stopper = asyncio.create_task(coordinator.stop())
    await clock.wait_for_sleepers()
    await clock.advance(10.0)
    await stopper
    assert task.cancelled()
    assert not coordinator.running


async def test_run_once_and_run_refuse_while_running_and_restart_after_stop() -> None:
    coordinator, source, clock = make()
    task = asyncio.create_task(coordinator.run())
    await clock.wait_for_sleepers()
    with pytest.raises(CoordinatorRunningError):
        await coordinator.run_once()
    with pytest.raises(CoordinatorRunningError):
        await coordinator.run()
    await coordinator.stop()
    await task
    source.add("late")
    result = await coordinator.run_once()
    assert result.delivered == 1


async def test_observer_sees_stable_events_in_order() -> None:
    observer = RecordingObserver()
    coordinator, _, _ = make(["a"], observer=observer)
    await coordinator.run_once()
    assert observer.names() == [
        events.FETCHED,
        events.APPLY_COMPLETED,
        events.APPLIED,
        events.SETTLED,
        events.POLL_COMPLETED,
    ]
    applied = observer.named(events.APPLIED)[0]
    assert (applied.delivered, applied.failed, applied.dead) == (1, 0, 0)


@pytest.mark.parametrize(
    "options",
    [{"interval": 0}, {"batch_size": 0}, {"batch_size": 1.5}, {"grace": -1}],
)
def test_invalid_settings_are_rejected_at_construction(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        make(**options)


def test_repr_shows_live_state() -> None:
    coordinator, _, _ = make(name="orders")
    assert "orders" in repr(coordinator)
    assert "running=False" in repr(coordinator)
