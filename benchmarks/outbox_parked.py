"""Relay throughput with a parked key's backlog at the head of the outbox.

One key's events (``head``) are written first, so they hold the lowest ids,
then the healthy backlog. The key is parked the way it is in production: a
relay claims the head, the publisher fails its first event with a
:class:`PermanentError` (``on_key_failure="park"``), and the settle
dead-letters it, parks the key and sets its pending events aside. A fresh
relay then drains the healthy backlog with ``Relay.drain()``; that drain is
the figure, from its first claim to its last settle. The parking itself is
timed apart. Nothing is vacuumed in between: the set-aside rows are as the
settle left them, as they are until autovacuum comes by.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from outbox_tables import BacklogRow, fresh_store, fresh_tables, load
from relaybox.adapters.postgres import PostgresStore
from relaybox.core.errors import PermanentError
from relaybox.core.events import Message
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.testing.publisher import MemoryPublisher

BATCH = 1000


@dataclass(frozen=True, slots=True)
class ParkedRun:
    """Events/s of the healthy drain behind the parked head, and seconds the parking took."""

    rate: float
    parking: float


async def park_head(store: PostgresStore, head: Sequence[BacklogRow]) -> float:
    """Park the head's key through the relay; the seconds its claim, publish and settle took."""
    first = head[0][0]

    def fail(message: Message) -> BaseException | None:
        return PermanentError("refused by the destination") if message.id == first else None

    settings = RelaySettings(batch_size=BATCH, on_key_failure="park")
    relay = Relay(store, MemoryPublisher(fail), settings=settings)
    started = time.perf_counter()
    await relay.run_once()
    parking = time.perf_counter() - started
    status = await store.status()
    if relay.stats.parked != 1 or status.parked_keys != 1 or status.dead != 1:
        raise SystemExit(f"the head's key did not park: {relay!r}, {status}")
    return parking


async def parked_rate(
    dsn: str, head: Sequence[BacklogRow], rows: Sequence[BacklogRow]
) -> ParkedRun:
    """Park ``head`` (one key, lowest ids), then time ``Relay.drain()`` over ``rows``."""
    tables = fresh_tables()
    async with fresh_store(dsn, tables) as store:
        conn = await asyncpg.connect(dsn)
        try:
            await load(conn, tables, [*head, *rows])
        finally:
            await conn.close()
        parking = await park_head(store, head)
        publisher = MemoryPublisher()
        relay = Relay(store, publisher, settings=RelaySettings(batch_size=BATCH))
        started = time.perf_counter()
        handled = await relay.drain()
        elapsed = time.perf_counter() - started
        status = await store.status()
    if handled != len(rows) or len(publisher.published) != len(rows):
        raise SystemExit(f"relay handled {handled} of {len(rows)} events behind the parked key")
    if status.pending != len(head) - 1:
        raise SystemExit(f"{status.pending} events left, expected the {len(head) - 1} set aside")
    return ParkedRun(len(rows) / elapsed, parking)
