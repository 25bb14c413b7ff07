"""O-5: the outbox cannot outgrow its cleanup.

The hazard: one bounded delete per cleanup interval (a hundred rows an hour)
falls behind any real throughput, and a dead letter's retention counted from
the event's creation lets an old event that just died be purged at once.
Here delivered events are deleted when they are settled, cleanup loops in
bounded batches until nothing is left, and dead letters age from their death.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from relaybox.core.errors import PermanentError
from relaybox.core.events import Event
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.testing.publisher import MemoryPublisher


async def test_o05_delivered_events_leave_the_outbox_when_settled(outbox_db) -> None:
    await outbox_db.write(*(Event("orders", key=f"k{i % 7}") for i in range(300)))
    relay = Relay(outbox_db.store, MemoryPublisher(), settings=RelaySettings(batch_size=64))

    assert await relay.drain() == 300

    assert await outbox_db.scalar("SELECT count(*) FROM {events}") == 0
    assert relay.janitor.runs == 0  # no cleanup was needed for that


async def test_o05_one_cleanup_run_removes_a_backlog_many_batches_deep(outbox_db) -> None:
    await outbox_db.write(*(Event("orders") for _ in range(35)))
    await Relay(outbox_db.store, MemoryPublisher(lambda m: PermanentError("no"))).drain()
    shift = "interval '2 days'" if outbox_db.dialect == "postgresql" else "172800"
    await outbox_db.execute(f"UPDATE {{dead}} SET dead_at = dead_at - {shift}")

    removed = await outbox_db.store.cleanup(86400.0, 10)

    assert removed >= 35
    assert await outbox_db.scalar("SELECT count(*) FROM {dead}") == 0


async def test_o05_an_old_event_that_just_died_is_kept_for_the_full_retention(outbox_db) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=30)
    await outbox_db.write(Event("orders", key="a", created_at=long_ago))
    settings = RelaySettings(dead_retention=7 * 86400.0)
    relay = Relay(
        outbox_db.store, MemoryPublisher(lambda m: PermanentError("no")), settings=settings
    )
    await relay.drain()

    await relay.janitor.clean()

    assert await outbox_db.scalar("SELECT count(*) FROM {dead}") == 1
