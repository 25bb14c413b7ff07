from __future__ import annotations

import asyncio
from collections.abc import Sequence

from relaybox.core.backoff import Backoff, RetryPolicy
from relaybox.core.errors import TemporaryError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.resilient import resilient
from relaybox.testing import FakeClock, settle

ERROR = TemporaryError("downstream rejected it")


async def always_fail(records: Sequence[str]) -> Outcome[str]:
    return Outcome(failed=[Failure(r, ERROR) for r in records])


async def test_c07_dead_letter_keeps_real_error_attempts_and_failure_times() -> None:
    """A dead letter stores the real error, the true number of attempts and the times of
    the first and last failure."""
    clock = FakeClock()
    policy = RetryPolicy(attempts=4, backoff=Backoff(initial=1.0, jitter=0.0))
    stack = resilient(applier(always_fail), retry=policy, clock=clock)
    start = clock.now()
    task = asyncio.ensure_future(stack.apply(["a"]))
    while not task.done():
        await settle()
        if clock.sleepers:
            await clock.advance(clock.slept[-1])
    assert [f.record for f in task.result().dead] == ["a"]
    (letter,) = await stack.dead_letters.all()
    assert letter.error is ERROR
    assert letter.attempts == 4
    assert letter.first_failed_at == start
    assert letter.last_failed_at == start + 1.0 + 2.0 + 4.0
