from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any

from relaybox.core.backoff import Backoff, RetryPolicy
from relaybox.core.errors import CircuitOpenError, PermanentError, TemporaryError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.circuit_breaker import (
    BreakerSettings,
    CircuitBreaker,
    CircuitBreakerApplier,
    CircuitState,
)
from relaybox.pipeline.middleware.dead_letter import InMemoryDeadLetterQueue
from relaybox.pipeline.middleware.retry import RetryingApplier
from relaybox.pipeline.resilient import (
    resilient,
    with_circuit_breaker,
    with_dead_letters,
    with_retry,
)
from relaybox.ports.applier import Applier
from relaybox.testing import FakeClock, settle

POLICY = RetryPolicy(attempts=3, backoff=Backoff(initial=1.0, max_delay=4.0, jitter=0.0))


class Failing:
    """Fails the chosen records with ``error`` every time; counts calls."""

    def __init__(self, bad: set[str], error: BaseException) -> None:
        self.bad = bad
        self.error = error
        self.calls = 0

    async def apply(self, records: Sequence[str], /) -> Outcome[str]:
        self.calls += 1
        failed = [Failure(r, self.error) for r in records if r in self.bad]
        return Outcome([r for r in records if r not in self.bad], failed)


async def drive(clock: FakeClock, work: Coroutine[Any, Any, Outcome[str]]) -> Outcome[str]:
    task = asyncio.ensure_future(work)
    while not task.done():
        await settle()
        if clock.sleepers:
            await clock.advance(clock.slept[-1])
    return task.result()


def delivering() -> Applier[str]:
    async def inner(records: Sequence[str]) -> Outcome[str]:
        return Outcome.all_delivered(records)

    return applier(inner)


def test_defaults() -> None:
    stack = resilient(delivering())
    assert isinstance(stack.dead_letters, InMemoryDeadLetterQueue)
    assert stack.dead_letters.capacity == 10_000
    assert stack.breaker.settings == BreakerSettings()
    assert stack.policy == RetryPolicy()


def test_breaker_may_be_given_as_settings_or_as_a_breaker() -> None:
    settings = BreakerSettings(failure_threshold=9)
    assert resilient(delivering(), breaker=settings).breaker.settings is settings
    breaker = CircuitBreaker()
    assert resilient(delivering(), breaker=breaker).breaker is breaker


async def test_clean_batches_are_delivered() -> None:
    outcome = await resilient(delivering()).apply(["a", "b"])
    assert list(outcome.delivered) == ["a", "b"]


async def test_permanent_failures_are_dead_lettered_without_retry() -> None:
    clock = FakeClock()
    inner = Failing({"a"}, PermanentError("bad"))
    stack = resilient(inner, retry=POLICY, clock=clock)
    outcome = await stack.apply(["a", "b"])
    assert inner.calls == 1
    assert [f.record for f in outcome.dead] == ["a"]
    assert await stack.dead_letters.count() == 1


async def test_exhausted_records_are_dead_lettered_with_their_true_attempts() -> None:
    clock = FakeClock()
    stack = resilient(Failing({"a"}, TemporaryError("flaky")), retry=POLICY, clock=clock)
    outcome = await drive(clock, stack.apply(["a", "b"]))
    assert list(outcome.delivered) == ["b"]
    (letter,) = await stack.dead_letters.all()
    assert letter.attempts == 3
    assert str(letter.error) == "flaky"


async def test_an_open_breaker_refuses_without_calling_the_applier() -> None:
    inner = Failing(set(), TemporaryError())
    stack = resilient(inner, breaker=BreakerSettings(failure_threshold=1), clock=FakeClock())
    stack.breaker.record_failure()
    outcome = await stack.apply(["a"])
    assert inner.calls == 0
    assert isinstance(outcome.error, CircuitOpenError)
    assert await stack.dead_letters.count() == 0


async def test_single_layer_helpers() -> None:
    clock = FakeClock()
    retried = with_retry(Failing({"a"}, TemporaryError()), POLICY, clock=clock)
    assert isinstance(retried, RetryingApplier)
    stored, queue = with_dead_letters(Failing({"a"}, TemporaryError()))
    await stored.apply(["a"])
    assert await queue.count() == 1
    guarded = with_circuit_breaker(delivering(), BreakerSettings(failure_threshold=1))
    assert isinstance(guarded, CircuitBreakerApplier)
    assert guarded.breaker.state is CircuitState.CLOSED


def test_repr_shows_the_layers() -> None:
    text = repr(resilient(delivering()))
    assert text.startswith("Resilient(CircuitBreakerApplier(DeadLetteringApplier(RetryingApplier(")


async def test_resilient_counts_the_retries_it_made() -> None:
    from relaybox.core.backoff import Backoff, RetryPolicy
    from relaybox.pipeline.resilient import resilient
    from relaybox.testing import ScriptedApplier

    inner: ScriptedApplier[str] = ScriptedApplier(fail_times={"a": 2})
    stack = resilient(inner, retry=RetryPolicy(attempts=3, backoff=Backoff(0.0, 0.0)))
    outcome = await stack.apply(["a", "b"])
    assert sorted(outcome.delivered) == ["a", "b"]
    assert stack.retries == 2
