from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import pytest

from relaybox.core.backoff import Backoff, RetryPolicy
from relaybox.core.errors import (
    KeyBlockedError,
    PermanentError,
    ReleasedError,
    ShutdownReleasedError,
    TemporaryError,
)
from relaybox.core.outcome import Failure, Outcome
from relaybox.core.stopping import stop_signal
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.retry import (
    RetryBudgetSpentError,
    RetryingApplier,
    retry,
    retry_call,
)
from relaybox.testing import FakeClock, settle

STEADY = Backoff(initial=1.0, max_delay=8.0, multiplier=2.0, jitter=0.0)


class Flaky:
    """Fails each record its scheduled number of times (None: always), then delivers it."""

    def __init__(
        self,
        failures: dict[str, int | None],
        error: Callable[[str], BaseException] = lambda r: TemporaryError(f"{r} failed"),
    ) -> None:
        self.left = dict(failures)
        self.error = error
        self.calls: list[list[str]] = []

    async def apply(self, records: Sequence[str], /) -> Outcome[str]:
        self.calls.append(list(records))
        delivered: list[str] = []
        failed: list[Failure[str]] = []
        for record in records:
            left = self.left.get(record, 0)
            if left is None or left > 0:
                self.left[record] = None if left is None else left - 1
                failed.append(Failure(record, self.error(record)))
            else:
                delivered.append(record)
        return Outcome(delivered, failed)


async def drive(clock: FakeClock, work: Coroutine[Any, Any, Outcome[str]]) -> Outcome[str]:
    """Run ``work``, moving the fake clock past every sleep it makes."""
    task = asyncio.ensure_future(work)
    while not task.done():
        await settle()
        if clock.sleepers:
            await clock.advance(clock.slept[-1])
    return task.result()


def make(inner: Any, clock: FakeClock, **policy: Any) -> RetryingApplier[str]:
    return RetryingApplier(inner, RetryPolicy(backoff=STEADY, **policy), clock=clock)


async def test_a_clean_first_outcome_is_returned_unchanged() -> None:
    clean: Outcome[str] = Outcome.all_delivered(["a", "b"])

    async def inner(records: Sequence[str]) -> Outcome[str]:
        return clean

    assert await RetryingApplier(applier(inner)).apply(["a", "b"]) is clean


async def test_only_the_failed_records_are_applied_again() -> None:
    clock = FakeClock()
    inner = Flaky({"b": 2})
    outcome = await drive(clock, make(inner, clock).apply(["a", "b", "c"]))
    assert inner.calls == [["a", "b", "c"], ["b"], ["b"]]
    assert list(outcome.delivered) == ["a", "c", "b"]
    assert not outcome.failed


async def test_waits_follow_the_policy_delays() -> None:
    clock = FakeClock()
    await drive(clock, make(Flaky({"a": 3}), clock).apply(["a"]))
    assert clock.slept == [1.0, 2.0, 4.0]


async def test_permanent_errors_are_returned_at_once() -> None:
    clock = FakeClock()
    inner = Flaky({"a": None}, error=lambda r: PermanentError("bad"))
    outcome = await drive(clock, make(inner, clock).apply(["a"]))
    assert inner.calls == [["a"]]
    assert isinstance(outcome.failed[0].error, PermanentError)
    assert outcome.failed[0].attempts == 1


async def test_exhausted_record_keeps_real_error_attempts_and_times() -> None:
    clock = FakeClock()
    start = clock.now()
    outcome = await drive(clock, make(Flaky({"a": None}), clock, attempts=3).apply(["a"]))
    (failure,) = outcome.failed
    assert str(failure.error) == "a failed"
    assert failure.attempts == 3
    assert failure.first_failed_at == start
    assert failure.last_failed_at == start + 1.0 + 2.0


async def test_released_failures_use_no_attempts_and_are_offered_again() -> None:
    clock = FakeClock()
    blocked = {"b": 2}

    async def inner(records: Sequence[str]) -> Outcome[str]:
        failed = [Failure(r, TemporaryError("x")) for r in records if r == "a"]
        if "b" in records and blocked["b"] > 0:
            blocked["b"] -= 1
            failed.append(Failure("b", KeyBlockedError()))
        done = [r for r in records if r not in {f.record for f in failed}]
        return Outcome(done, failed)

    outcome = await drive(clock, make(applier(inner), clock, attempts=3).apply(["a", "b"]))
    assert list(outcome.delivered) == ["b"]
    assert outcome.failed[0].record == "a"
    assert outcome.failed[0].attempts == 3


async def test_only_released_records_left_are_returned_as_they_are() -> None:
    clock = FakeClock()
    inner = Flaky({"a": None}, error=lambda r: KeyBlockedError())
    outcome = await drive(clock, make(inner, clock, attempts=None).apply(["a"]))
    assert inner.calls == [["a"]]
    assert isinstance(outcome.failed[0].error, KeyBlockedError)


async def test_dead_entries_pass_through_untouched() -> None:
    clock = FakeClock()
    dead = Failure("d", PermanentError("gone"))

    async def inner(records: Sequence[str]) -> Outcome[str]:
        return Outcome([r for r in records if r == "a"], (), [dead] if "d" in records else [])

    outcome = await drive(clock, make(applier(inner), clock).apply(["a", "d"]))
    assert list(outcome.dead) == [dead]
    assert outcome.dead[0] is dead


async def test_fatal_error_is_not_retried_and_keeps_delivered() -> None:
    clock = FakeClock()
    fatal = RuntimeError("connection lost")
    calls: list[list[str]] = []

    async def inner(records: Sequence[str]) -> Outcome[str]:
        calls.append(list(records))
        if len(calls) == 1:
            return Outcome(["a", "c"], [Failure("b", TemporaryError())])
        return Outcome(error=fatal)

    outcome = await drive(clock, make(applier(inner), clock).apply(["a", "b", "c"]))
    assert calls == [["a", "b", "c"], ["b"]]
    assert list(outcome.delivered) == ["a", "c"]
    assert [(f.record, f.error) for f in outcome.failed] == [("b", fatal)]
    assert outcome.error is fatal


async def test_raised_exception_is_a_fatal_outcome() -> None:
    fatal = RuntimeError("down")

    async def inner(records: Sequence[str]) -> Outcome[str]:
        raise fatal

    outcome = await RetryingApplier(applier(inner)).apply(["a", "b"])
    assert outcome.error is fatal
    assert [f.error for f in outcome.failed] == [fatal, fatal]


async def test_spent_elapsed_budget_releases_records_caused_by_real_error() -> None:
    clock = FakeClock()
    applier_ = make(Flaky({"a": None}), clock, attempts=None, max_elapsed=5.0)
    outcome = await drive(clock, applier_.apply(["a"]))
    (failure,) = outcome.failed
    assert isinstance(failure.error, RetryBudgetSpentError)
    assert isinstance(failure.error, ReleasedError)
    assert "retry budget" in str(failure.error)
    assert str(failure.error.__cause__) == "a failed"
    assert clock.slept == [1.0, 2.0]
    assert failure.attempts == 3


async def test_stop_during_wait_releases_pending_and_keeps_delivered() -> None:
    clock = FakeClock()
    stop = asyncio.Event()
    with stop_signal(stop):
        task = asyncio.ensure_future(make(Flaky({"b": None}), clock).apply(["a", "b"]))
    await clock.wait_for_sleepers(1)
    stop.set()
    outcome = await task
    assert list(outcome.delivered) == ["a"]
    assert isinstance(outcome.failed[0].error, ShutdownReleasedError)
    assert str(outcome.failed[0].error.__cause__) == "b failed"


async def test_on_retry_gets_each_record_attempts_and_real_error() -> None:
    clock = FakeClock()
    seen: list[tuple[str, int, str]] = []

    async def on_retry(record: str, attempt: int, error: BaseException) -> None:
        seen.append((record, attempt, str(error)))

    policy = RetryPolicy(backoff=STEADY)
    applier_ = RetryingApplier(Flaky({"a": 2, "b": 1}), policy, clock=clock, on_retry=on_retry)
    await drive(clock, applier_.apply(["a", "b"]))
    assert seen == [("a", 1, "a failed"), ("b", 1, "b failed"), ("a", 2, "a failed")]
    assert applier_.retries == 3


async def test_a_failing_on_retry_hook_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()

    def on_retry(record: str, attempt: int, error: BaseException) -> None:
        raise RuntimeError("hook broke")

    policy = RetryPolicy(backoff=STEADY)
    applier_ = RetryingApplier(Flaky({"a": 1}), policy, clock=clock, on_retry=on_retry)
    with caplog.at_level(logging.ERROR, logger="relaybox.retry"):
        outcome = await drive(clock, applier_.apply(["a"]))
    assert list(outcome.delivered) == ["a"]
    assert "on_retry hook failed" in caplog.text


async def test_cancellation_propagates() -> None:
    clock = FakeClock()
    task = asyncio.ensure_future(make(Flaky({"a": None}), clock).apply(["a"]))
    await clock.wait_for_sleepers(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_retry_middleware_wraps_an_applier() -> None:
    clock = FakeClock()
    wrapped = retry(RetryPolicy(backoff=STEADY), clock=clock, rng=random.Random(1))(Flaky({"a": 1}))
    outcome = await drive(clock, wrapped.apply(["a"]))
    assert list(outcome.delivered) == ["a"]
    assert "RetryingApplier(" in repr(wrapped)
    assert "retries=1" in repr(wrapped)


async def drive_value(clock: FakeClock, work: Awaitable[Any]) -> Any:
    task = asyncio.ensure_future(work)
    while not task.done():
        await settle()
        if clock.sleepers:
            await clock.advance(clock.slept[-1])
    return task.result()


async def test_retry_call_returns_the_value_after_failures() -> None:
    clock = FakeClock()
    tries: list[int] = []

    async def fn() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise TemporaryError("not yet")
        return "ok"

    result = await drive_value(clock, retry_call(fn, RetryPolicy(backoff=STEADY), clock=clock))
    assert result == "ok"
    assert clock.slept == [1.0, 2.0]


async def test_retry_call_raises_the_last_error_when_attempts_run_out() -> None:
    clock = FakeClock()

    def fn() -> str:
        raise ValueError("still broken")

    policy = RetryPolicy(attempts=2, backoff=STEADY)
    with pytest.raises(ValueError, match="still broken"):
        await drive_value(clock, retry_call(fn, policy, clock=clock))


async def test_retry_call_does_not_retry_permanent_or_unwanted_errors() -> None:
    calls: list[int] = []

    async def fn() -> None:
        calls.append(1)
        raise PermanentError("no")

    with pytest.raises(PermanentError):
        await retry_call(fn)
    with pytest.raises(PermanentError):
        await retry_call(fn, retry_on=lambda e: False)
    assert len(calls) == 2


async def test_retry_call_raises_last_error_when_budget_is_spent() -> None:
    clock = FakeClock()

    async def fn() -> None:
        raise TemporaryError("slow")

    policy = RetryPolicy(attempts=None, backoff=STEADY, max_elapsed=2.5)
    with pytest.raises(TemporaryError, match="slow"):
        await drive_value(clock, retry_call(fn, policy, clock=clock))
    assert clock.slept == [1.0]


async def test_retry_call_releases_on_stop() -> None:
    clock = FakeClock()
    stop = asyncio.Event()

    async def fn() -> None:
        raise TemporaryError("down")

    with stop_signal(stop):
        task = asyncio.ensure_future(retry_call(fn, RetryPolicy(backoff=STEADY), clock=clock))
    await clock.wait_for_sleepers(1)
    stop.set()
    with pytest.raises(ShutdownReleasedError) as caught:
        await task
    assert str(caught.value.__cause__) == "down"


async def test_a_retry_after_hint_stretches_the_wait_up_to_the_cap() -> None:
    from relaybox.core.errors import TemporaryError
    from relaybox.testing import ScriptedApplier

    clock = FakeClock()
    inner: ScriptedApplier[str] = ScriptedApplier(
        fail_times={"a": 2, "b": 0},
        error=lambda r: TemporaryError("slow down", retry_after=5.0 if r == "a" else None),
    )
    policy = RetryPolicy(attempts=3, backoff=Backoff(initial=1.0, max_delay=4.0, jitter=0.0))
    task = asyncio.ensure_future(RetryingApplier(inner, policy, clock=clock).apply(["a", "b"]))
    await clock.wait_for_sleepers()
    await clock.advance(4.0)
    await clock.wait_for_sleepers()
    await clock.advance(4.0)
    outcome = await task
    assert clock.slept == [4.0, 4.0]
    assert list(outcome.delivered) == ["b", "a"]
