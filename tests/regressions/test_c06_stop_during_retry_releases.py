from __future__ import annotations

import asyncio
from collections.abc import Sequence

from relaybox.core.backoff import RetryPolicy
from relaybox.core.errors import ShutdownReleasedError, TemporaryError
from relaybox.core.outcome import Failure, Outcome
from relaybox.core.stopping import stop_signal
from relaybox.pipeline.resilient import resilient
from relaybox.testing import FakeClock


async def fail_b(records: Sequence[str]) -> Outcome[str]:
    failed = [Failure(r, TemporaryError("b is down")) for r in records if r == "b"]
    return Outcome([r for r in records if r != "b"], failed)


async def test_c06_stop_during_retry_wait_releases_pending_records() -> None:
    """A stop during a retry wait returns the waiting records released (never
    dead-lettered) with their real error as cause, and keeps the delivered ones."""
    from relaybox.pipeline.appliers import applier

    clock = FakeClock()
    stop = asyncio.Event()
    stack = resilient(applier(fail_b), retry=RetryPolicy(attempts=5), clock=clock)
    with stop_signal(stop):
        task = asyncio.ensure_future(stack.apply(["a", "b"]))
    await clock.wait_for_sleepers(1)
    stop.set()
    outcome = await task
    assert list(outcome.delivered) == ["a"]
    (failure,) = outcome.failed
    assert failure.record == "b"
    assert isinstance(failure.error, ShutdownReleasedError)
    assert str(failure.error.__cause__) == "b is down"
    assert not outcome.dead
    assert await stack.dead_letters.count() == 0
