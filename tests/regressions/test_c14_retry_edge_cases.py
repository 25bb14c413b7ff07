from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import pytest

from relaybox.core.backoff import Backoff, RetryPolicy
from relaybox.core.errors import ConfigurationError, ReleasedError, TemporaryError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.retry import RetryingApplier
from relaybox.testing import FakeClock, settle


async def poison(records: Sequence[str]) -> Outcome[str]:
    return Outcome(failed=[Failure(r, TemporaryError(f"{r} is poison")) for r in records])


def test_c14_zero_attempts_is_rejected_with_a_clear_message() -> None:
    """attempts=0 is refused at construction with a message saying how to ask for no limit."""
    with pytest.raises(ConfigurationError, match=r"at least 1.*attempts=None"):
        RetryPolicy(attempts=0)


async def test_c14_unlimited_attempts_never_block_past_max_elapsed() -> None:
    """With unlimited attempts a poison record is handed back once the time budget would be
    passed, so one call never blocks for ever."""
    clock = FakeClock()
    policy = RetryPolicy(attempts=None, max_elapsed=10.0, backoff=Backoff(1.0, 4.0, jitter=0.0))
    task = asyncio.ensure_future(RetryingApplier(applier(poison), policy, clock=clock).apply(["p"]))
    while not task.done():
        await settle()
        if clock.sleepers:
            await clock.advance(clock.slept[-1])
    (failure,) = task.result().failed
    assert isinstance(failure.error, ReleasedError)
    assert clock.monotonic() <= 10.0
    assert sum(clock.slept) <= 10.0


def test_c14_retry_ten_thousand_does_not_overflow() -> None:
    """The delay before retry 10 000 is the cap, never an overflowed or negative value."""
    policy = RetryPolicy(attempts=None)
    assert policy.delay(10_000, random.Random(1)) <= policy.backoff.max_delay
    assert Backoff(jitter=0.0).delay(10_000) == 30.0


def test_c14_jitter_stays_within_the_cap() -> None:
    """Jitter is applied inside the cap: no delay ever exceeds max_delay."""
    backoff = Backoff(initial=1.0, max_delay=2.0, jitter=1.0)
    rng = random.Random(3)
    assert max(backoff.delay(n, rng) for n in range(1, 500)) <= 2.0


async def test_c14_on_retry_gets_the_real_error() -> None:
    """The on_retry hook receives the error the record actually failed with."""
    clock = FakeClock()
    seen: list[BaseException] = []
    policy = RetryPolicy(attempts=2, backoff=Backoff(1.0, jitter=0.0))
    stack = RetryingApplier(
        applier(poison), policy, clock=clock, on_retry=lambda r, n, e: seen.append(e)
    )
    task = asyncio.ensure_future(stack.apply(["p"]))
    await clock.wait_for_sleepers(1)
    await clock.advance(1.0)
    await task
    assert [str(e) for e in seen] == ["p is poison"]
