from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from relaybox.core.errors import (
    CircuitOpenError,
    ConfigurationError,
    KeyBlockedError,
    PermanentError,
    ShutdownReleasedError,
    TemporaryError,
)
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.circuit_breaker import (
    BreakerSettings,
    CircuitBreaker,
    CircuitBreakerApplier,
    CircuitState,
    circuit_breaker,
)
from relaybox.ports.applier import Applier
from relaybox.testing import FakeClock

FAST = BreakerSettings(failure_threshold=2, success_threshold=2, reset_timeout=10.0)


def returning(outcome: Outcome[str]) -> Applier[str]:
    async def inner(records: Sequence[str]) -> Outcome[str]:
        return outcome

    return applier(inner)


def failing_all(records: Sequence[str]) -> Outcome[str]:
    return Outcome(failed=[Failure(r, TemporaryError()) for r in records])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"success_threshold": 0}, "success_threshold"),
        ({"reset_timeout": -1.0}, "reset_timeout"),
        ({"reset_timeout": float("inf")}, "reset_timeout"),
        ({"half_open_max_calls": 0}, "half_open_max_calls"),
        ({"failure_ratio": 1.5}, "failure_ratio"),
    ],
)
def test_settings_are_validated(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        BreakerSettings(**kwargs)


def test_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(FAST, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allow()


async def test_open_circuit_admits_a_probe_after_the_reset_timeout() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(FAST, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    await clock.advance(4.0)
    assert breaker.retry_after() == pytest.approx(6.0)
    assert not breaker.allow()
    await clock.advance(6.0)
    assert breaker.allow()
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.retry_after() == 0.0


async def test_half_open_closes_after_enough_successes_and_reopens_on_failure() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(FAST, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    await clock.advance(10.0)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    await clock.advance(10.0)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_success()
    assert breaker.state is CircuitState.CLOSED


async def test_release_gives_a_probe_slot_back() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(FAST, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    await clock.advance(10.0)
    assert breaker.allow()
    assert not breaker.allow()
    breaker.release()
    assert breaker.allow()


def test_state_change_hook_sees_the_new_state() -> None:
    seen: list[tuple[CircuitState, CircuitState, CircuitState]] = []
    breaker: CircuitBreaker

    def hook(old: CircuitState, new: CircuitState) -> None:
        seen.append((old, new, breaker.state))

    breaker = CircuitBreaker(FAST, clock=FakeClock(), on_state_change=hook)
    breaker.record_failure()
    breaker.record_failure()
    breaker.reset()
    assert seen == [
        (CircuitState.CLOSED, CircuitState.OPEN, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.CLOSED, CircuitState.CLOSED),
    ]


def test_a_failing_hook_is_logged_and_the_transition_stands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def hook(old: CircuitState, new: CircuitState) -> None:
        raise RuntimeError("hook broke")

    breaker = CircuitBreaker(FAST, clock=FakeClock(), on_state_change=hook)
    with caplog.at_level(logging.ERROR, logger="relaybox.circuit_breaker"):
        breaker.record_failure()
        breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert "on_state_change hook failed" in caplog.text


async def test_async_hook_is_awaited_by_the_middleware() -> None:
    seen: list[tuple[CircuitState, CircuitState]] = []

    async def hook(old: CircuitState, new: CircuitState) -> None:
        await asyncio.sleep(0)
        seen.append((old, new))

    breaker = CircuitBreaker(
        BreakerSettings(failure_threshold=1), clock=FakeClock(), on_state_change=hook
    )
    await CircuitBreakerApplier(applier(_all_failing), breaker).apply(["a"])
    assert seen == [(CircuitState.CLOSED, CircuitState.OPEN)]


async def _all_failing(records: Sequence[str]) -> Outcome[str]:
    return failing_all(records)


async def test_refused_call_fails_every_record_and_sets_the_error() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerSettings(failure_threshold=1, reset_timeout=30.0), clock=clock)
    breaker.record_failure()
    calls: list[Sequence[str]] = []

    async def inner(records: Sequence[str]) -> Outcome[str]:
        calls.append(records)
        return Outcome.all_delivered(records)

    outcome = await CircuitBreakerApplier(applier(inner), breaker).apply(["a", "b"])
    assert not calls
    assert isinstance(outcome.error, CircuitOpenError)
    assert outcome.error.retry_after == pytest.approx(30.0)
    assert [f.record for f in outcome.failed] == ["a", "b"]
    assert all(f.error is outcome.error for f in outcome.failed)


@pytest.mark.parametrize(
    ("outcome", "opens"),
    [
        (Outcome(["a", "b"], [Failure("c", TemporaryError()), Failure("d", TemporaryError())]), 0),
        (Outcome(["a"], [Failure(r, TemporaryError()) for r in "bcd"]), 1),
        (Outcome(["a"], dead=[Failure(r, TemporaryError()) for r in "bcd"]), 1),
        (Outcome(["a"], dead=[Failure(r, PermanentError()) for r in "bcd"]), 0),
        (Outcome(["a"], [Failure(r, KeyBlockedError()) for r in "bcd"]), 0),
        (Outcome(["a", "b", "c", "d"], error=RuntimeError("down")), 1),
        (Outcome(failed=[Failure(r, ShutdownReleasedError()) for r in "abcd"]), 0),
    ],
    ids=["half", "most", "dead", "permanent", "released", "fatal", "shutdown"],
)
async def test_a_call_fails_on_fatal_error_or_more_than_the_ratio(
    outcome: Outcome[str], opens: int
) -> None:
    breaker = CircuitBreaker(BreakerSettings(failure_threshold=1), clock=FakeClock())
    await CircuitBreakerApplier(returning(outcome), breaker).apply(["a", "b", "c", "d"])
    assert (breaker.state is CircuitState.OPEN) == bool(opens)


async def test_released_fatal_error_is_not_a_downstream_failure() -> None:
    breaker = CircuitBreaker(BreakerSettings(failure_threshold=1), clock=FakeClock())
    inner = returning(Outcome(["a"], error=ShutdownReleasedError()))
    await CircuitBreakerApplier(inner, breaker).apply(["a", "b"])
    assert breaker.state is CircuitState.CLOSED


async def test_empty_batches_do_not_count() -> None:
    breaker = CircuitBreaker(BreakerSettings(failure_threshold=1), clock=FakeClock())
    await CircuitBreakerApplier(returning(Outcome(error=RuntimeError())), breaker).apply([])
    assert breaker.state is CircuitState.CLOSED


async def test_raised_exception_is_a_failed_call_with_a_complete_outcome() -> None:
    async def inner(records: Sequence[str]) -> Outcome[str]:
        raise RuntimeError("down")

    breaker = CircuitBreaker(BreakerSettings(failure_threshold=1), clock=FakeClock())
    outcome = await CircuitBreakerApplier(applier(inner), breaker).apply(["a"])
    assert isinstance(outcome.error, RuntimeError)
    assert [f.record for f in outcome.failed] == ["a"]
    assert breaker.state is CircuitState.OPEN


async def test_cancelled_probe_gives_its_slot_back() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(FAST, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    await clock.advance(10.0)
    started = asyncio.Event()

    async def hanging(records: Sequence[str]) -> Outcome[str]:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    task = asyncio.ensure_future(CircuitBreakerApplier(applier(hanging), breaker).apply(["a"]))
    await started.wait()
    assert not breaker.allow()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.allow()


async def test_stale_results_from_an_earlier_state_are_ignored() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerSettings(failure_threshold=1), clock=clock)
    gate = asyncio.Event()

    async def slow(records: Sequence[str]) -> Outcome[str]:
        await gate.wait()
        return failing_all(records)

    task = asyncio.ensure_future(CircuitBreakerApplier(applier(slow), breaker).apply(["a"]))
    await asyncio.sleep(0)
    breaker.record_failure()
    breaker.reset()
    gate.set()
    await task
    assert breaker.state is CircuitState.CLOSED


def test_factory_builds_a_breaker_from_settings() -> None:
    wrapped = circuit_breaker(failure_threshold=3, clock=FakeClock())(returning(Outcome()))
    assert isinstance(wrapped, CircuitBreakerApplier)
    assert wrapped.breaker.settings.failure_threshold == 3


def test_factory_rejects_unknown_settings_and_mixed_arguments() -> None:
    with pytest.raises(ConfigurationError, match="unknown breaker settings"):
        circuit_breaker(threshold=3)
    with pytest.raises(ConfigurationError, match="not both"):
        circuit_breaker(CircuitBreaker(), failure_threshold=3)


def test_factory_shares_one_given_breaker() -> None:
    breaker = CircuitBreaker()
    wrap = circuit_breaker(breaker)
    first, second = wrap(returning(Outcome())), wrap(returning(Outcome()))
    assert isinstance(first, CircuitBreakerApplier)
    assert isinstance(second, CircuitBreakerApplier)
    assert first.breaker is second.breaker is breaker


def test_repr_shows_live_state() -> None:
    breaker = CircuitBreaker(FAST, clock=FakeClock())
    breaker.record_failure()
    assert repr(breaker) == (
        "CircuitBreaker(state=closed, failures=1, successes=0, probes=0, retry_after=0.000)"
    )
    assert "CircuitBreakerApplier(" in repr(CircuitBreakerApplier(returning(Outcome()), breaker))


async def test_refusal_is_a_release_when_a_middleware_drops_the_fatal_error() -> None:
    """``ordered`` turns the refused call into per-record failures without a fatal
    error; the refusal must still be no attempt and no dead letter (found by
    test_composition: the record was stored with CircuitOpenError and attempts=2)."""
    from relaybox.core.backoff import Backoff, RetryPolicy
    from relaybox.core.errors import ReleasedError
    from relaybox.pipeline.middleware.dead_letter import InMemoryDeadLetterQueue, dead_letter
    from relaybox.pipeline.middleware.ordering import ordered
    from relaybox.pipeline.middleware.retry import retry

    clock = FakeClock()
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    calls: list[Sequence[str]] = []

    async def down(records: Sequence[str]) -> Outcome[str]:
        calls.append(records)
        return Outcome.all_failed(records, TemporaryError("down"))

    zero = RetryPolicy(attempts=3, backoff=Backoff(initial=0, max_delay=0))
    guarded = circuit_breaker(clock=clock, failure_threshold=1)(applier(down))
    stack = dead_letter(queue, clock=clock)(ordered(lambda r: r)(retry(zero, clock=clock)(guarded)))
    outcome = await stack.apply(["a"])
    assert [list(c) for c in calls] == [["a"]]  # the second try was refused by the open breaker
    (failure,) = outcome.failed
    assert isinstance(failure.error, CircuitOpenError)
    assert isinstance(failure.error, ReleasedError)
    assert failure.attempts == 1
    assert not outcome.dead
    assert await queue.count() == 0
