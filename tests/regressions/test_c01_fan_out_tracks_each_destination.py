from __future__ import annotations

import asyncio
from collections.abc import Sequence

from relaybox.core.errors import FanOutError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.fan_out import fan_out
from relaybox.testing import settle


class Down(Exception):
    pass


class Destination:
    def __init__(self, failing: set[str] | None = None) -> None:
        self.failing = failing or set()
        self.received: list[str] = []

    async def apply(self, records: Sequence[str], /) -> Outcome[str]:
        self.received.extend(records)
        return Outcome(
            delivered=[r for r in records if r not in self.failing],
            failed=[Failure(r, Down("unavailable")) for r in records if r in self.failing],
        )


async def test_c01_fan_out_delivers_when_every_destination_succeeds() -> None:
    """A fan-out whose destinations all succeed reports every record delivered, none failed."""
    records = ["r1", "r2", "r3"]
    outcome = await fan_out({"db": Destination(), "cache": Destination()}).apply(records)
    assert list(outcome.delivered) == records
    assert not outcome.failed
    assert not outcome.dead


async def test_c01_fan_out_retries_a_failed_record_only_at_the_failed_destination() -> None:
    """A record that failed at one destination is sent again only there, not to the others."""
    db, cache = Destination(), Destination(failing={"r2"})
    fan = fan_out({"db": db, "cache": cache})
    first = await fan.apply(["r1", "r2"])
    [failure] = first.failed
    assert isinstance(failure.error, FanOutError)
    assert list(failure.error.errors) == ["cache"]
    cache.failing.clear()
    second = await fan.apply(["r2"])
    assert list(second.delivered) == ["r2"]
    assert db.received == ["r1", "r2"]
    assert cache.received == ["r1", "r2", "r2"]


async def test_c01_fan_out_runs_destinations_concurrently() -> None:
    """Destinations run side by side: two that each wait for the other both finish."""
    db_started, cache_started = asyncio.Event(), asyncio.Event()

    async def db(records: Sequence[str]) -> Outcome[str]:
        db_started.set()
        await cache_started.wait()
        return Outcome(delivered=tuple(records))

    async def cache(records: Sequence[str]) -> Outcome[str]:
        cache_started.set()
        await db_started.wait()
        return Outcome(delivered=tuple(records))

    task = asyncio.create_task(fan_out({"db": applier(db), "cache": applier(cache)}).apply(["r1"]))
    await settle()
    try:
        assert task.done(), "the destinations were applied one after the other"
        assert list(task.result().delivered) == ["r1"]
    finally:
        task.cancel()


async def test_c01_fan_out_fatal_error_at_one_destination_spares_the_others() -> None:
    """A destination's fatal error fails records for that destination only; others keep them."""
    db = Destination()

    async def broken(records: Sequence[str]) -> Outcome[str]:
        raise Down("cache cluster down")

    fan = fan_out({"db": db, "cache": applier(broken)})
    outcome = await fan.apply(["r1"])
    assert outcome.error is None
    [failure] = outcome.failed
    assert isinstance(failure.error, FanOutError)
    assert list(failure.error.errors) == ["cache"]
    await fan.apply(["r1"])
    assert db.received == ["r1"]
