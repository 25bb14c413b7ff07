"""O-10: terminal states take effect at once and retention runs when the relay starts.

The hazard: nothing runs at start-up, so the first dead-letter move waits
minutes and the first cleanup an hour, and failed events linger in the hot
table meanwhile. Here a dead letter leaves the outbox in the settle that
decided it, and a starting relay applies the retention before its first wait.
"""

from __future__ import annotations

import asyncio

from relaybox.core.errors import PermanentError
from relaybox.core.events import Event
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.testing import wait_until
from relaybox.testing.publisher import MemoryPublisher


async def test_o10_a_starting_relay_removes_expired_dead_letters_at_once(outbox_db) -> None:
    await outbox_db.write(*(Event("orders") for _ in range(5)))
    await Relay(outbox_db.store, MemoryPublisher(lambda m: PermanentError("no"))).drain()
    shift = "interval '8 days'" if outbox_db.dialect == "postgresql" else "691200"
    await outbox_db.execute(f"UPDATE {{dead}} SET dead_at = dead_at - {shift}")
    settings = RelaySettings(cleanup_interval=3600.0, dead_retention=7 * 86400.0)
    relay = Relay(outbox_db.store, MemoryPublisher(), settings=settings)

    running = asyncio.create_task(relay.run())
    try:
        await wait_until(lambda: relay.stats.cleaned >= 5, what="the first cleanup")
    finally:
        await relay.stop()
        await running

    assert relay.janitor.runs == 1  # at start, not after the hour
    assert await outbox_db.scalar("SELECT count(*) FROM {dead}") == 0


async def test_o10_a_dead_event_leaves_the_outbox_in_the_settle_that_decided_it(outbox_db) -> None:
    await outbox_db.write(Event("orders", key="a"))
    relay = Relay(outbox_db.store, MemoryPublisher(lambda m: PermanentError("no")))

    await relay.relay_batch()

    assert await outbox_db.scalar("SELECT count(*) FROM {events}") == 0
    assert await outbox_db.scalar("SELECT count(*) FROM {dead}") == 1
