"""Draining a backlog after the destination comes back from an outage.

A running relay (``Relay.run()``, in this process) faces a keyed backlog and a
publisher that is down: every publish call raises ``ConnectionError`` for
``down`` seconds from the first call, then delivers. The relay's breaker opens
and probes on ``outage_backoff``; no attempt may be counted, so nothing may
end dead. The drain rate runs from the first delivery after the destination
came back until the outbox is empty (``status()`` says no event is pending).
The same relay settings on an identical backlog with no outage give the normal
rate, measured the same way in the same run, before and after the outage run
(the better of the two counts, so drift does not flatter the recovered rate).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from outbox_tables import BacklogRow, fresh_store, fresh_tables, load
from relaybox.adapters.postgres import PostgresStore
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings

EMPTY_POLL = 0.005
"""How often the outbox is asked whether it is empty once every event was published."""


class DownPublisher:
    """Raises ``ConnectionError`` for ``down`` seconds from its first call, then delivers.

    Notes when the destination came back, when it first delivered, when it
    refused each call, the most attempts any delivered event carried, and sets
    ``done`` once ``expected`` distinct events were delivered.
    """

    def __init__(self, down: float, expected: int) -> None:
        self.down = down
        self.expected = expected
        self.back_at: float | None = None
        self.first_delivery: float | None = None
        self.refused: list[float] = []
        self.most_attempts = 0
        self.ids: set[str] = set()
        self.done = asyncio.Event()

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        now = time.perf_counter()
        if self.back_at is None:
            self.back_at = now + self.down
        if now < self.back_at:
            self.refused.append(now)
            raise ConnectionError("the destination is down")
        if self.first_delivery is None:
            self.first_delivery = now
        self.ids.update(m.id for m in messages)
        self.most_attempts = max(self.most_attempts, *(m.attempts for m in messages))
        if len(self.ids) >= self.expected:
            self.done.set()
        return Outcome(delivered=tuple(messages))

    async def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Drain:
    """One drain: its rate after the first delivery, and what the outage left behind."""

    events_per_s: float
    first_delivery_after_s: float
    refused_calls: int
    probe_gaps: list[float]
    unavailable_events: int
    dead: int
    most_attempts: int

    def figures(self) -> dict[str, object]:
        return {
            "events_per_s": round(self.events_per_s),
            "first_delivery_after_recovery_s": round(self.first_delivery_after_s, 3),
            "refused_publish_calls": self.refused_calls,
            "seconds_between_refused_calls": self.probe_gaps,
            "events_offered_back_unavailable": self.unavailable_events,
            "dead": self.dead,
            "most_attempts_delivered": self.most_attempts,
        }


async def until_empty(store: PostgresStore) -> float:
    """The time the outbox was first seen with no pending event."""
    while True:
        status = await store.status()
        if not status.pending:
            return time.perf_counter()
        await asyncio.sleep(EMPTY_POLL)


async def drain(
    dsn: str, rows: Sequence[BacklogRow], down: float, settings: RelaySettings
) -> Drain:
    """Run a relay over ``rows`` with the destination down for ``down`` seconds, until empty."""
    tables = fresh_tables()
    async with fresh_store(dsn, tables) as store:
        conn = await asyncpg.connect(dsn)
        try:
            await load(conn, tables, rows)
        finally:
            await conn.close()
        publisher = DownPublisher(down, len(rows))
        relay = Relay(store, publisher, settings=settings)
        running = asyncio.create_task(relay.run())
        try:
            limit = down + 60 + len(rows) / 1000
            await asyncio.wait_for(publisher.done.wait(), timeout=limit)
            empty = await asyncio.wait_for(until_empty(store), timeout=60)
        except TimeoutError:
            raise SystemExit(
                f"the relay did not drain: {relay!r}, {await store.status()}"
            ) from None
        finally:
            await relay.stop()
            await running
        status = await store.status()
    assert publisher.back_at is not None
    assert publisher.first_delivery is not None
    return Drain(
        len(rows) / (empty - publisher.first_delivery),
        publisher.first_delivery - publisher.back_at,
        len(publisher.refused),
        [round(b - a, 3) for a, b in zip(publisher.refused, publisher.refused[1:], strict=False)],
        relay.stats.unavailable,
        status.dead,
        publisher.most_attempts,
    )


async def measure(
    dsn: str, rows: Sequence[BacklogRow], down: float, settings: RelaySettings
) -> tuple[list[Drain], Drain]:
    """The normal drains (before and after) and the drain after ``down`` seconds of outage."""
    before = await drain(dsn, rows, 0.0, settings)
    recovered = await drain(dsn, rows, down, settings)
    after = await drain(dsn, rows, 0.0, settings)
    return [before, after], recovered
