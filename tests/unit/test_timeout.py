from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from relaybox.core.errors import (
    ApplyTimeoutError,
    ConfigurationError,
    MissingOutcomeError,
    ReleasedError,
    ShutdownReleasedError,
)
from relaybox.core.outcome import Outcome
from relaybox.core.stopping import stop_signal
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.timeout import timeout
from relaybox.testing import FakeClock, settle


class SlowApplier:
    """Delivers each record after sleeping ``delays[record]`` seconds on the fake clock."""

    def __init__(self, clock: FakeClock, delays: dict[str, float]) -> None:
        self.clock = clock
        self.delays = delays
        self.calls: list[list[str]] = []

    async def apply(self, records: Sequence[str], /) -> Outcome[str]:
        self.calls.append(list(records))
        wait = max((self.delays.get(r, 0.0) for r in records), default=0.0)
        if wait:
            await self.clock.sleep(wait)
        return Outcome.all_delivered(records)


async def test_batch_finishing_in_time_passes_the_inner_outcome_through() -> None:
    expected: Outcome[str] = Outcome(delivered=("a",))

    async def inner(records: Sequence[str]) -> Outcome[str]:
        return expected

    wrapped = timeout(5, clock=FakeClock())(applier(inner))
    assert await wrapped.apply(["a"]) is expected


async def test_batch_over_time_fails_every_record_with_apply_timeout() -> None:
    clock = FakeClock()
    wrapped = timeout(5, clock=clock)(SlowApplier(clock, {"b": 10}))
    call = asyncio.create_task(wrapped.apply(["a", "b", "c"]))
    await clock.wait_for_sleepers(2)
    await clock.advance(5)
    outcome = await call
    assert [f.record for f in outcome.failed] == ["a", "b", "c"]
    assert all(isinstance(f.error, ApplyTimeoutError) for f in outcome.failed)
    assert isinstance(outcome.error, ApplyTimeoutError)
    assert outcome.delivered == ()
    assert "timeouts=1" in repr(wrapped)


async def test_batch_timeout_cancels_the_inner_call() -> None:
    clock = FakeClock()
    cancelled = asyncio.Event()

    async def inner(records: Sequence[str]) -> Outcome[str]:
        try:
            await clock.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Outcome.all_delivered(records)

    wrapped = timeout(1, clock=clock)(applier(inner))
    call = asyncio.create_task(wrapped.apply(["a"]))
    await clock.wait_for_sleepers(2)
    await clock.advance(1)
    await call
    await settle()
    assert cancelled.is_set()


async def test_exception_from_the_inner_call_propagates_in_batch_mode() -> None:
    async def inner(records: Sequence[str]) -> Outcome[str]:
        raise RuntimeError("down")

    with pytest.raises(RuntimeError, match="down"):
        await timeout(1, clock=FakeClock())(applier(inner)).apply(["a"])


async def test_cancelling_the_caller_cancels_the_inner_call() -> None:
    clock = FakeClock()
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def inner(records: Sequence[str]) -> Outcome[str]:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Outcome()

    call = asyncio.create_task(timeout(1, clock=clock)(applier(inner)).apply(["a"]))
    await started.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await settle()
    assert cancelled.is_set()


async def test_late_error_of_an_abandoned_call_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    release = asyncio.Event()

    async def stubborn(records: Sequence[str]) -> Outcome[str]:
        try:
            await release.wait()
        except asyncio.CancelledError:
            await release.wait()
            raise RuntimeError("finished late") from None
        return Outcome()

    wrapped = timeout(1, clock=clock)(applier(stubborn))
    call = asyncio.create_task(wrapped.apply(["a"]))
    await clock.wait_for_sleepers(1)
    await clock.advance(1)
    outcome = await call
    assert isinstance(outcome.error, ApplyTimeoutError)
    assert "still_running=1" in repr(wrapped)
    with caplog.at_level(logging.WARNING, logger="relaybox.timeout"):
        release.set()
        await settle()
    assert "still_running=0" in repr(wrapped)
    assert any("finished late" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


async def test_per_record_times_out_only_the_slow_record() -> None:
    clock = FakeClock()
    inner = SlowApplier(clock, {"b": 10})
    wrapped = timeout(2, per="record", clock=clock)(inner)
    call = asyncio.create_task(wrapped.apply(["a", "b", "c"]))
    await clock.wait_for_sleepers(2)
    await clock.advance(2)
    outcome = await call
    assert inner.calls == [["a"], ["b"], ["c"]]
    assert list(outcome.delivered) == ["a", "c"]
    assert [f.record for f in outcome.failed] == ["b"]
    assert isinstance(outcome.failed[0].error, ApplyTimeoutError)
    assert outcome.error is None


async def test_per_record_inner_returning_nothing_fails_that_record() -> None:
    async def forgetful(records: Sequence[str]) -> Outcome[str]:
        return Outcome() if records[0] == "b" else Outcome.all_delivered(records)

    outcome = await timeout(1, per="record", clock=FakeClock())(applier(forgetful)).apply(
        ["a", "b", "c"]
    )
    assert list(outcome.delivered) == ["a", "c"]
    assert [f.record for f in outcome.failed] == ["b"]
    assert isinstance(outcome.failed[0].error, MissingOutcomeError)


async def test_per_record_fatal_error_releases_the_rest_and_keeps_delivered() -> None:
    boom = RuntimeError("connection lost")

    async def inner(records: Sequence[str]) -> Outcome[str]:
        if records[0] == "b":
            raise boom
        return Outcome.all_delivered(records)

    outcome = await timeout(1, per="record", clock=FakeClock())(applier(inner)).apply(
        ["a", "b", "c"]
    )
    assert list(outcome.delivered) == ["a"]
    assert [f.record for f in outcome.failed] == ["b", "c"]
    sent, not_sent = outcome.failed
    assert sent.error is boom
    assert isinstance(not_sent.error, ReleasedError)  # never sent: not an attempt
    assert not_sent.error.__cause__ is boom
    assert not_sent.attempts == 0
    assert outcome.error is boom


async def test_per_record_stop_releases_the_records_not_yet_sent() -> None:
    stopping = asyncio.Event()
    sent: list[str] = []

    async def inner(records: Sequence[str]) -> Outcome[str]:
        sent.extend(records)
        stopping.set()
        return Outcome.all_delivered(records)

    wrapped = timeout(1, per="record", clock=FakeClock())(applier(inner))
    with stop_signal(stopping):
        outcome = await wrapped.apply(["a", "b", "c"])
    assert sent == ["a"]
    assert list(outcome.delivered) == ["a"]
    assert [f.record for f in outcome.failed] == ["b", "c"]
    assert all(isinstance(f.error, ShutdownReleasedError) for f in outcome.failed)


@pytest.mark.parametrize("seconds", [0, -1, float("inf"), float("nan")])
def test_invalid_seconds_raise_configuration_error(seconds: float) -> None:
    with pytest.raises(ConfigurationError, match="seconds"):
        timeout(seconds)


def test_unknown_per_raises_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="per"):
        timeout(1, per="call")  # type: ignore[arg-type]


async def test_per_record_a_crash_behind_route_dead_letters_nothing() -> None:
    """route drops the fatal error of its group; neither the record whose call
    crashed nor the records the per-record timeout never sent become dead letters."""
    from relaybox.pipeline.middleware.dead_letter import InMemoryDeadLetterQueue, dead_letter
    from relaybox.pipeline.middleware.routing import route

    sent: list[str] = []

    async def crashes(records: Sequence[str]) -> Outcome[str]:
        sent.extend(records)
        raise RuntimeError("crashed")

    clock = FakeClock()
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    bounded = timeout(1, per="record", clock=clock)(applier(crashes))
    stack = dead_letter(queue, clock=clock)(route(lambda r: "x", {"x": bounded}))
    outcome = await stack.apply(["a", "b"])
    assert sent == ["a"]
    assert await queue.count() == 0
    crashed, never_sent = outcome.failed
    assert (crashed.record, crashed.fatal) == ("a", True)
    assert never_sent.record == "b"
    assert isinstance(never_sent.error, ReleasedError)
