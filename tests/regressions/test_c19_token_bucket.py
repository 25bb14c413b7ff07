from __future__ import annotations

import asyncio

import pytest

from relaybox.pipeline.middleware.rate_limit import TokenBucket
from relaybox.testing import FakeClock


async def test_c19_huge_rate_waits_with_one_sleep_instead_of_spinning() -> None:
    """A wait for tokens at a huge rate is one computed sleep, never a polling loop."""
    clock = FakeClock()
    bucket = TokenBucket(1e12, burst=1, clock=clock)
    assert bucket.try_acquire()
    waiters = [asyncio.create_task(bucket.acquire()) for _ in range(3)]
    for _ in waiters:
        await clock.wait_for_sleepers(1)
        await clock.advance(1e-12)
    assert all(await asyncio.gather(*waiters))
    assert len(clock.slept) == 3
    assert all(s == pytest.approx(1e-12) for s in clock.slept)


async def test_c19_fractional_refill_accumulates() -> None:
    """A refill keeps the fraction of a token it earned, so later refills complete it."""
    clock = FakeClock()
    bucket = TokenBucket(1, burst=2, clock=clock)
    assert bucket.try_acquire(2)
    await clock.advance(1.5)
    assert not bucket.try_acquire(2)  # refills 1.5 tokens and keeps the half
    await clock.advance(0.5)
    assert bucket.try_acquire(2)


async def test_c19_cancelled_waiter_takes_no_tokens() -> None:
    """A cancelled acquire takes nothing: the tokens refilled meanwhile stay in the bucket."""
    clock = FakeClock()
    bucket = TokenBucket(4, clock=clock)
    assert bucket.try_acquire(4)
    waiter = asyncio.create_task(bucket.acquire(4))
    await clock.wait_for_sleepers(1)
    await clock.advance(0.5)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket.tokens == pytest.approx(2.0)
    assert bucket.try_acquire(2)


async def test_c19_waiters_are_served_in_arrival_order() -> None:
    """Waiters get their tokens first come, first served, even when a later one asks less."""
    clock = FakeClock()
    bucket = TokenBucket(2, clock=clock)
    assert bucket.try_acquire(2)
    served: list[str] = []

    async def take(name: str, n: float) -> None:
        assert await bucket.acquire(n)
        served.append(name)

    tasks = [asyncio.create_task(take(name, n)) for name, n in [("a", 2), ("b", 1), ("c", 2)]]
    await clock.wait_for_sleepers(1)
    for _ in range(10):
        await clock.advance(0.5)
    await asyncio.gather(*tasks)
    assert served == ["a", "b", "c"]
