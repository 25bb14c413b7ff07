from __future__ import annotations

import asyncio
from collections.abc import Sequence

from relaybox.core.errors import ApplyTimeoutError, MissingOutcomeError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.timeout import timeout
from relaybox.testing import FakeClock, settle


async def test_c15_batch_timeout_accounts_each_record_exactly_once() -> None:
    """A timed-out batch of 3 records reports exactly 3 failures, one per record."""
    clock = FakeClock()

    async def partly_failing_then_slow(records: Sequence[str]) -> Outcome[str]:
        await clock.sleep(60)
        return Outcome(delivered=[records[0]], failed=[Failure(records[1], RuntimeError())])

    wrapped = timeout(5, clock=clock)(applier(partly_failing_then_slow))
    call = asyncio.create_task(wrapped.apply(["a", "b", "c"]))
    await clock.wait_for_sleepers(2)
    await clock.advance(5)
    outcome = await call
    assert outcome.count == 3
    assert sorted(f.record for f in outcome.failed) == ["a", "b", "c"]
    assert all(isinstance(f.error, ApplyTimeoutError) for f in outcome.failed)


async def test_c15_per_record_inner_returning_nothing_loses_no_record() -> None:
    """A per-record call that returns an empty outcome still accounts for its record, as failed."""

    async def silent(records: Sequence[str]) -> Outcome[str]:
        return Outcome()

    outcome = await timeout(1, per="record", clock=FakeClock())(applier(silent)).apply(
        ["a", "b", "c"]
    )
    assert outcome.count == 3
    assert [f.record for f in outcome.failed] == ["a", "b", "c"]
    assert all(isinstance(f.error, MissingOutcomeError) for f in outcome.failed)


async def test_c15_applier_ignoring_cancellation_cannot_hang_the_batch() -> None:
    """An applier that swallows cancellation does not delay the timed-out batch's return."""
    clock = FakeClock()
    release = asyncio.Event()

    async def stubborn(records: Sequence[str]) -> Outcome[str]:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue
        return Outcome.all_delivered(records)

    call = asyncio.create_task(timeout(1, clock=clock)(applier(stubborn)).apply(["a", "b", "c"]))
    await clock.wait_for_sleepers(1)
    await clock.advance(1)
    await settle()
    assert call.done()
    assert (await call).count == 3
    release.set()
    await settle()
