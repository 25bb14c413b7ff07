"""An idle relay wakes at once for new work: an in-process hint, or NOTIFY after a commit."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from relaybox.core.events import Event
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.writer import Outbox
from relaybox.testing import wait_until
from relaybox.testing.publisher import MemoryPublisher

pytestmark = pytest.mark.integration

# Idle polls wait a minute: only a wake-up can deliver within the test's deadline.
SLEEPY = RelaySettings(poll_min=60.0, poll_max=60.0)


async def _idle(relay: Relay) -> asyncio.Task[None]:
    task = asyncio.create_task(relay.run())
    await wait_until(lambda: relay.coordinator.polls >= 1, what="the first (empty) poll")
    return task


async def test_wake_delivers_newly_committed_events_without_waiting_for_the_next_poll(
    outbox_db,
) -> None:
    publisher = MemoryPublisher()
    relay = Relay(outbox_db.store, publisher, settings=SLEEPY)
    task = await _idle(relay)

    await outbox_db.write(Event("orders", {"n": 1}, key="a"))
    relay.wake()

    await wait_until(lambda: len(publisher.published) == 1, within=10, what="the delivery")
    await relay.stop()
    await task


async def test_a_notify_sent_after_commit_wakes_a_relay_in_another_connection(
    pg_store, pg_dsn: str
) -> None:
    publisher = MemoryPublisher()
    relay = Relay(pg_store, publisher, settings=SLEEPY)
    task = await _idle(relay)
    outbox = Outbox(pg_store._tables)
    conn = await asyncpg.connect(pg_dsn)
    try:
        async with conn.transaction():
            await outbox.add_async(conn, Event("orders", {"n": 1}, key="a"))
        await conn.execute(f"NOTIFY {outbox.tables.name}")

        await wait_until(lambda: len(publisher.published) == 1, within=10, what="the delivery")
    finally:
        await conn.close()
        await relay.stop()
        await task
