"""A business transaction left open stalls nobody but itself.

Order is taken per key inside the writer's transaction (a row lock on that
key's counter), never from snapshot horizons or timestamps, so an open
transaction that inserted business rows and outbox events of its own key (and
an unkeyed one) holds back only those events, and only until it commits.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from relaybox.adapters.postgres import PostgresStore
from relaybox.core.events import Event
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox
from relaybox.testing import wait_until
from relaybox.testing.publisher import MemoryPublisher

pytestmark = pytest.mark.integration


def topics(publisher: MemoryPublisher) -> list[str]:
    return [m.topic for m in publisher.published]


async def commit(dsn: str, outbox: Outbox, *events: Event) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await outbox.add_async(conn, *events)
    finally:
        await conn.close()


async def settled(store: PostgresStore) -> None:
    """Wait until the outbox has nothing pending (settles are written in the background)."""
    deadline = time.monotonic() + 10
    while (await store.status()).pending:
        assert time.monotonic() < deadline, "events still pending"
        await asyncio.sleep(0.005)


async def test_an_open_transaction_delays_only_its_own_events(
    pg_store: PostgresStore, pg_dsn: str, tables: Tables
) -> None:
    outbox = Outbox(tables)
    orders = f"{tables.name}_orders"
    long = await asyncpg.connect(pg_dsn)
    await long.execute(f"CREATE TABLE {orders} (id int PRIMARY KEY)")
    publisher = MemoryPublisher()
    relay = Relay(pg_store, publisher, settings=RelaySettings(poll_max=0.02))
    running = asyncio.create_task(relay.run())
    transaction = long.transaction()
    try:
        await transaction.start()
        await long.execute(f"INSERT INTO {orders} VALUES (1)")
        await outbox.add_async(
            long, Event("held", key="order-1"), Event("held-unkeyed"), Event("held", key="order-1")
        )

        # Others commit while it is open; their rows get later ids than its own.
        await commit(pg_dsn, outbox, Event("a", key="order-2"), Event("b"), Event("c", key="x"))
        await commit(pg_dsn, outbox, Event("d", key="order-2"))
        await wait_until(lambda: len(publisher.published) == 4, what="the committed events")
        assert long.is_in_transaction()
        assert sorted(topics(publisher)) == ["a", "b", "c", "d"]
        await settled(pg_store)  # its own rows stay invisible until it commits
        assert long.is_in_transaction()

        await transaction.commit()
        await wait_until(lambda: len(publisher.published) == 7, what="the late commit")
    finally:
        if long.is_in_transaction():
            await transaction.rollback()
        await relay.stop()
        await running
        await long.execute(f"DROP TABLE IF EXISTS {orders}")
        await long.close()

    late = publisher.published[4:]
    assert sorted(m.topic for m in late) == ["held", "held", "held-unkeyed"]
    assert [m.seq for m in late if m.key == "order-1"] == [1, 2]
