"""O-2: claims are leases with an owner, an expiry and a fencing token.

The hazard: a claim that is only a status flag lets a slow worker's batch be
taken over and published again, and the slow worker's late status update then
overwrites the newer state. Here a settle or renewal carrying an old token
changes nothing, and the relay counts those events as lost, not delivered.
"""

from __future__ import annotations

from collections.abc import Sequence

from relaybox.core.events import Event, Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.relay import Relay
from relaybox.ports.store import Claim, Dead, DeadFilter, Retry, Settlement


def past(outbox_db) -> str:  # type: ignore[no-untyped-def]
    return "'-infinity'" if outbox_db.dialect == "postgresql" else "0"


async def take_over(outbox_db, owner: str = "new-relay") -> Claim:  # type: ignore[no-untyped-def]
    """Let every lease expire, then claim everything as ``owner``."""
    await outbox_db.execute(f"UPDATE {{claims}} SET expires_at = {past(outbox_db)}")
    return await outbox_db.store.claim(owner, 100, 30.0)


async def test_o02_a_late_settle_cannot_overwrite_the_new_owners_state(outbox_db) -> None:
    await outbox_db.write(Event("orders", key="a"), Event("orders", key="a"), Event("audit"))
    store = outbox_db.store
    slow = await store.claim("slow-relay", 100, 30.0)
    new = await take_over(outbox_db)
    assert len(new.messages) == 3

    first, second, third = slow.messages
    late = await store.settle(
        slow,
        Settlement(
            retry=[Retry(first, 3600.0, "late retry")],
            dead=[Dead(second, "late death", "PermanentError", 9), Dead(third, "x", "E", 9)],
            hold={first.lane: 3600.0},
        ),
    )

    assert (late.settled, len(late.lost)) == (0, 3)
    assert await store.dead_letters(DeadFilter(), 10) == []
    assert (
        await outbox_db.scalar("SELECT count(*) FROM {events} WHERE last_error LIKE 'late%'") == 0
    )
    on_time = await store.settle(new, Settlement(delivered=new.messages))
    assert on_time.settled == 3
    assert (await store.status()).pending == 0


async def test_o02_a_lost_lease_cannot_be_renewed(outbox_db) -> None:
    await outbox_db.write(Event("orders", key="a"))
    store = outbox_db.store
    slow = await store.claim("slow-relay", 100, 30.0)
    new = await take_over(outbox_db)
    expiry = "SELECT max(expires_at) FROM {claims}"
    before = await outbox_db.scalar(expiry)

    assert await store.extend(slow, 3600.0) is False
    assert await outbox_db.scalar(expiry) == before
    assert await store.extend(new, 60.0) is True


class TakenOverPublisher:
    """Publishes, but meanwhile the lease expires and another relay takes the events."""

    def __init__(self, outbox_db) -> None:  # type: ignore[no-untyped-def]
        self.outbox_db = outbox_db
        self.thief: Claim | None = None

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        self.thief = await take_over(self.outbox_db, "thief")
        return Outcome.all_delivered(messages)

    async def close(self) -> None:
        return None


async def test_o02_events_whose_lease_was_lost_count_as_lost_not_delivered(outbox_db) -> None:
    await outbox_db.write(*(Event("orders", key=k) for k in "abc"))
    publisher = TakenOverPublisher(outbox_db)
    relay = Relay(outbox_db.store, publisher)

    await relay.relay_batch()

    assert (relay.stats.delivered, relay.stats.lost) == (0, 3)
    assert publisher.thief is not None
    assert len(publisher.thief.messages) == 3
    assert (await outbox_db.store.status()).pending == 3
