from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from relaybox.core.errors import ConfigurationError, ShutdownReleasedError
from relaybox.core.outcome import Outcome
from relaybox.core.stopping import stop_signal
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.rate_limit import TokenBucket, rate_limit
from relaybox.testing import FakeClock, ScriptedApplier


def drained(clock: FakeClock, rate: float, burst: float | None = None) -> TokenBucket:
    bucket = TokenBucket(rate, burst=burst, clock=clock)
    assert bucket.try_acquire(bucket.burst)
    return bucket


def test_bucket_starts_full_with_burst_equal_to_rate() -> None:
    bucket = TokenBucket(5, clock=FakeClock())
    assert bucket.burst == 5
    assert all(bucket.try_acquire() for _ in range(5))
    assert not bucket.try_acquire()


def test_burst_defaults_to_at_least_one_token_for_slow_rates() -> None:
    bucket = TokenBucket(0.5, clock=FakeClock())
    assert bucket.burst == 1
    assert bucket.try_acquire()


@pytest.mark.parametrize(
    ("rate", "per", "burst"),
    [(0, 1.0, None), (-1, 1.0, None), (float("inf"), 1.0, None), (1, 0.0, None), (1, 1.0, 0.5)],
)
def test_invalid_settings_raise_configuration_error(
    rate: float, per: float, burst: float | None
) -> None:
    with pytest.raises(ConfigurationError):
        TokenBucket(rate, per, burst=burst)


@pytest.mark.parametrize("n", [0, -1, 3])
async def test_asking_for_no_tokens_or_more_than_burst_raises(n: float) -> None:
    bucket = TokenBucket(2, clock=FakeClock())
    with pytest.raises(ConfigurationError, match="burst"):
        bucket.try_acquire(n)
    with pytest.raises(ConfigurationError, match="burst"):
        await bucket.acquire(n)


async def test_tokens_refill_continuously_up_to_burst() -> None:
    clock = FakeClock()
    bucket = drained(clock, rate=10)
    await clock.advance(0.25)
    assert bucket.tokens == pytest.approx(2.5)
    await clock.advance(60)
    assert bucket.tokens == 10


async def test_rate_per_interval_sets_the_refill_speed() -> None:
    clock = FakeClock()
    bucket = TokenBucket(6, per=60.0, clock=clock)
    bucket.try_acquire(6)
    await clock.advance(10)
    assert bucket.tokens == pytest.approx(1.0)


async def test_acquire_without_waiting_when_tokens_are_there() -> None:
    clock = FakeClock()
    bucket = TokenBucket(3, clock=clock)
    assert await bucket.acquire(2)
    assert clock.slept == []


async def test_acquire_sleeps_exactly_until_the_tokens_arrive() -> None:
    clock = FakeClock()
    bucket = drained(clock, rate=4)
    waiter = asyncio.create_task(bucket.acquire(2))
    await clock.wait_for_sleepers(1)
    assert clock.slept == [pytest.approx(0.5)]
    await clock.advance(0.49)
    assert not waiter.done()
    await clock.advance(0.01)
    assert await waiter
    assert bucket.tokens == pytest.approx(0.0, abs=1e-9)


async def test_try_acquire_does_not_take_tokens_owed_to_a_waiter() -> None:
    clock = FakeClock()
    bucket = drained(clock, rate=1)
    waiter = asyncio.create_task(bucket.acquire())
    await clock.wait_for_sleepers(1)
    await clock.advance(0.5)
    assert bucket.tokens == pytest.approx(0.5)
    assert not bucket.try_acquire(0.5)
    await clock.advance(0.5)
    assert await waiter
    assert clock.slept == [pytest.approx(1.0)]


async def test_stop_while_waiting_returns_false_and_takes_nothing() -> None:
    clock = FakeClock()
    bucket = drained(clock, rate=1)
    stopping = asyncio.Event()
    with stop_signal(stopping):
        waiter = asyncio.create_task(bucket.acquire())
    await clock.wait_for_sleepers(1)
    await clock.advance(0.5)
    stopping.set()
    assert await waiter is False
    assert bucket.tokens == pytest.approx(0.5)


async def test_bucket_repr_shows_live_tokens_and_waiters() -> None:
    clock = FakeClock()
    bucket = drained(clock, rate=2)
    waiter = asyncio.create_task(bucket.acquire())
    await clock.wait_for_sleepers(1)
    assert "tokens=0.000" in repr(bucket)
    assert "waiting=1" in repr(bucket)
    await clock.advance(1)
    await waiter


async def test_per_record_applies_chunks_of_burst_paying_before_each() -> None:
    clock = FakeClock()
    inner = ScriptedApplier[int]()
    limited = rate_limit(TokenBucket(2, clock=clock))(inner)
    call = asyncio.create_task(limited.apply([1, 2, 3, 4, 5]))
    await clock.wait_for_sleepers(1)
    assert inner.calls == [[1, 2]]
    await clock.advance(1.0)
    await clock.wait_for_sleepers(1)
    assert inner.calls == [[1, 2], [3, 4]]
    await clock.advance(0.5)
    outcome = await call
    assert inner.calls == [[1, 2], [3, 4], [5]]
    assert clock.slept == [pytest.approx(1.0), pytest.approx(0.5)]
    assert sorted(outcome.delivered) == [1, 2, 3, 4, 5]


async def test_per_record_small_batch_passes_the_inner_outcome_through() -> None:
    expected: Outcome[int] = Outcome(delivered=(1, 2))

    async def inner(records: Sequence[int]) -> Outcome[int]:
        return expected

    limited = rate_limit(TokenBucket(10, clock=FakeClock()))(applier(inner))
    assert await limited.apply([1, 2]) is expected


async def test_per_batch_takes_one_token_per_call_whatever_its_size() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2, clock=clock)
    limited = rate_limit(bucket, per="batch")(ScriptedApplier[int]())
    await limited.apply(list(range(100)))
    assert bucket.tokens == pytest.approx(1.0)


async def test_empty_batch_takes_no_tokens() -> None:
    bucket = TokenBucket(1, clock=FakeClock())
    inner = ScriptedApplier[int]()
    outcome = await rate_limit(bucket)(inner).apply([])
    assert outcome.count == 0
    assert bucket.tokens == 1


async def test_stop_during_a_wait_releases_the_unapplied_records_and_keeps_delivered() -> None:
    clock = FakeClock()
    inner = ScriptedApplier[int]()
    limited = rate_limit(TokenBucket(2, clock=clock))(inner)
    stopping = asyncio.Event()
    with stop_signal(stopping):
        call = asyncio.create_task(limited.apply([1, 2, 3, 4, 5]))
    await clock.wait_for_sleepers(1)
    stopping.set()
    outcome = await call
    assert list(outcome.delivered) == [1, 2]
    assert [f.record for f in outcome.failed] == [3, 4, 5]
    assert all(isinstance(f.error, ShutdownReleasedError) for f in outcome.failed)
    assert outcome.error is None


async def test_per_batch_stop_during_the_wait_releases_the_whole_batch() -> None:
    clock = FakeClock()
    bucket = drained(clock, rate=1)
    limited = rate_limit(bucket, per="batch")(ScriptedApplier[int]())
    stopping = asyncio.Event()
    with stop_signal(stopping):
        call = asyncio.create_task(limited.apply([1, 2]))
    await clock.wait_for_sleepers(1)
    stopping.set()
    outcome = await call
    assert [f.record for f in outcome.failed] == [1, 2]
    assert all(isinstance(f.error, ShutdownReleasedError) for f in outcome.failed)


async def test_fatal_error_in_a_chunk_keeps_earlier_chunks_and_fails_the_rest() -> None:
    boom = RuntimeError("down")
    calls = 0

    async def inner(records: Sequence[int]) -> Outcome[int]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise boom
        return Outcome.all_delivered(records)

    clock = FakeClock()
    limited = rate_limit(TokenBucket(2, clock=clock))(applier(inner))
    call = asyncio.create_task(limited.apply([1, 2, 3, 4, 5]))
    await clock.wait_for_sleepers(1)
    await clock.advance(1.0)
    outcome = await call
    assert list(outcome.delivered) == [1, 2]
    assert sorted(f.record for f in outcome.failed) == [3, 4, 5]
    assert all(f.error is boom for f in outcome.failed)
    assert outcome.error is boom
    assert calls == 2


def test_unknown_per_raises_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="per"):
        rate_limit(TokenBucket(1), per="call")  # type: ignore[arg-type]
