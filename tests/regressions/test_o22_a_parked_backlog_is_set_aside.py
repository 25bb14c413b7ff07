"""O-22: a parked key's backlog costs claims nothing.

Before: a claim's scan stepped over every pending event of a parked key one by
one; with 300k of them at the head of the table each claim took about 0.1 s.
Now a parked lane's events are set aside (out of the index the scan reads):
when the key parks, and, for events written after that, by the janitor.
Unparking or replaying puts them back, in order.
"""

from __future__ import annotations

from relaybox.core.errors import PermanentError
from relaybox.core.events import Event, Message
from relaybox.outbox.relay import Relay
from relaybox.ports.store import DeadFilter
from relaybox.testing.publisher import MemoryPublisher


def poison_first(message: Message) -> Exception | None:
    return PermanentError("unreadable") if (message.key, message.seq) == ("p", 1) else None


async def claimable(outbox_db, lane: str) -> int:  # type: ignore[no-untyped-def]
    return int(
        await outbox_db.scalar(
            f"SELECT count(*) FROM {{events}} WHERE parked IS NULL AND lane = '{lane}'"
        )
    )


async def test_o22_a_parked_keys_events_leave_the_scan_and_come_back_in_order(outbox_db) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}, key="p") for n in range(50)))
    await outbox_db.write(*(Event("orders", {"n": n}, key=f"ok{n}") for n in range(5)))
    publisher = MemoryPublisher(poison_first)
    relay = Relay(outbox_db.store, publisher)

    await relay.drain()

    assert [m.key for m in publisher.published] == [f"ok{n}" for n in range(5)]
    assert await claimable(outbox_db, "k:p") == 0  # all 49 set aside when the key parked
    await outbox_db.write(Event("orders", {"n": 50}, key="p"))
    assert await claimable(outbox_db, "k:p") == 1
    await outbox_db.store.cleanup(3600.0, 100)
    assert await claimable(outbox_db, "k:p") == 0  # a late one too, by the janitor
    [parked] = await outbox_db.store.parked(10)
    assert (parked.key, parked.pending) == ("p", 50)

    assert await outbox_db.store.replay(DeadFilter(key="p"), None) == 1
    publisher.fail = None
    await relay.drain()

    assert [m.seq for m in publisher.published if m.key == "p"] == list(range(1, 52))
    assert (await outbox_db.store.status()).pending == 0


async def test_o22_unparking_puts_the_backlog_back(outbox_db) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}, key="p") for n in range(4)))
    publisher = MemoryPublisher(poison_first)
    relay = Relay(outbox_db.store, publisher)
    await relay.drain()
    assert await claimable(outbox_db, "k:p") == 0

    assert await outbox_db.store.unpark("p")
    await relay.drain()

    assert [m.seq for m in publisher.published] == [2, 3, 4]
