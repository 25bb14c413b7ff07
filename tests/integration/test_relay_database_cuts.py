"""The relay's database connections are cut again and again; nothing is stranded or lost.

``pg_terminate_backend`` ends the relay's sessions in the middle of its
statements, and now and then all of them (its pool and its ``LISTEN``
connection), while it delivers a keyed backlog. Claims, settles and renewals
fail at every step. Once the cuts stop, every event is delivered with no
restart, first deliveries keep key order, nothing is dead-lettered, and no
lease is left behind.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence

import asyncpg
import pytest

from relaybox.adapters.postgres import PostgresStore
from relaybox.core.events import Event, Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox
from relaybox.ports.store import Claim, Settlement, SettleReport
from relaybox.testing.publisher import MemoryPublisher

pytestmark = pytest.mark.integration

EVENTS = 3000
KEYS = 40


CUT = """
SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND datname = current_database()
  AND (query LIKE '%' || $1 || '%' OR query LIKE 'LISTEN%')
  AND (state = 'active' OR NOT $2)) x
"""


async def cut(dsn: str, tables: Tables, until: float) -> int:
    """Until ``until``, every 0.1 to 0.3 s: hold the lease table for a moment, so that
    the relay's claims, settles and renewals wait, then terminate the sessions running
    them; now and then all of the relay's sessions, idle ones and ``LISTEN`` included."""
    cuts = 0
    admin = await asyncpg.connect(dsn)
    try:
        while time.monotonic() < until:
            await asyncio.sleep(random.uniform(0.1, 0.3))
            async with admin.transaction():
                await admin.execute(tables.render("LOCK TABLE {claims} IN EXCLUSIVE MODE"))
                await asyncio.sleep(0.05)
                everything = random.random() < 0.2
                cuts += await admin.fetchval(CUT, tables.name, not everything)
    finally:
        await admin.close()
    return cuts


class CountingStore:
    """The store, counting the settles that failed."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.failed_settles = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    async def settle(self, claim: Claim, settlement: Settlement, /) -> SettleReport:
        try:
            return await self.store.settle(claim, settlement)
        except Exception:
            self.failed_settles += 1
            raise


async def test_cut_connections_strand_nothing(pg_dsn: str, tables: Tables) -> None:
    store = await PostgresStore.connect(pg_dsn, tables)
    await store.migrate()
    conn = await asyncpg.connect(pg_dsn)
    try:
        async with conn.transaction():
            events = [Event("orders", {"n": n}, key=f"k{n % KEYS}") for n in range(EVENTS)]
            await Outbox(tables).add_async(conn, *events)
    finally:
        await conn.close()
    publisher = SlowPublisher()
    settings = RelaySettings(lease=2.0, batch_size=25, poll_max=0.2)
    counting = CountingStore(store)
    relay = Relay(counting, publisher, settings=settings)  # type: ignore[arg-type]
    runner = asyncio.create_task(relay.run())
    try:
        cuts = await cut(pg_dsn, tables, time.monotonic() + 6.0)
        deadline = time.monotonic() + 60
        while (status := await _status(pg_dsn, tables))[0]:
            assert time.monotonic() < deadline, f"stranded after the cuts: {status}"
            await asyncio.sleep(0.1)
    finally:
        await relay.stop()
        await runner
    try:
        assert cuts > 0
        assert counting.failed_settles > 0  # the cuts did hit settles
        pending, dead, claims = await _status(pg_dsn, tables)
        assert (pending, dead, claims) == (0, 0, 0)
        first: dict[str, int | None] = {}
        order: dict[str | None, list[int | None]] = {}
        for m in publisher.published:
            if m.id not in first:
                first[m.id] = m.seq
                order.setdefault(m.key, []).append(m.seq)
        assert len(first) == EVENTS
        for key, seqs in order.items():
            assert seqs == sorted(seqs), key
    finally:
        await store.drop()
        await store.close()


class SlowPublisher(MemoryPublisher):
    """Takes 30 ms a batch, so that the cuts land while batches are in flight."""

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        await asyncio.sleep(0.03)
        return await super().publish(messages)


async def _status(dsn: str, tables: Tables) -> tuple[int, int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            tables.render(
                "SELECT (SELECT count(*) FROM {events}), (SELECT count(*) FROM {dead}), "
                "(SELECT count(*) FROM {claims})"
            )
        )
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])
    finally:
        await conn.close()
