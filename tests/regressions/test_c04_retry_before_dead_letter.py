from __future__ import annotations

import asyncio
from collections.abc import Sequence

from relaybox.core.backoff import Backoff, RetryPolicy
from relaybox.core.errors import TemporaryError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.resilient import resilient
from relaybox.testing import FakeClock, settle


class FailsTwice:
    """Fails every record on its first two attempts, then delivers it."""

    def __init__(self) -> None:
        self.tries: dict[str, int] = {}

    async def apply(self, records: Sequence[str], /) -> Outcome[str]:
        delivered: list[str] = []
        failed: list[Failure[str]] = []
        for record in records:
            self.tries[record] = self.tries.get(record, 0) + 1
            if self.tries[record] <= 2:
                failed.append(Failure(record, TemporaryError("not yet")))
            else:
                delivered.append(record)
        return Outcome(delivered, failed)


async def test_c04_resilient_retries_before_dead_lettering() -> None:
    """A record that fails twice and then succeeds within three attempts is delivered by
    resilient(), and nothing is dead-lettered."""
    clock = FakeClock()
    policy = RetryPolicy(attempts=3, backoff=Backoff(initial=1.0, jitter=0.0))
    stack = resilient(FailsTwice(), retry=policy, clock=clock)
    task = asyncio.ensure_future(stack.apply(["a", "b"]))
    while not task.done():
        await settle()
        if clock.sleepers:
            await clock.advance(clock.slept[-1])
    outcome = task.result()
    assert sorted(outcome.delivered) == ["a", "b"]
    assert not outcome.failed
    assert not outcome.dead
    assert await stack.dead_letters.count() == 0
