"""O-4: per-key order holds through retries and across several relays.

The hazard: claiming the oldest events across all keys lets a key's later
events overtake its failed head while that head waits for its retry, and lets
two instances publish one key side by side. Here a failed head holds its key
shut until its retry, and a key is leased by one relay at a time.
"""

from __future__ import annotations

from relaybox.core.backoff import FixedBackoff
from relaybox.core.errors import TemporaryError
from relaybox.core.events import Event, Message
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.testing.publisher import MemoryPublisher


def numbers(publisher: MemoryPublisher, key: str) -> list[int]:
    return [m.json()["n"] for m in publisher.published if m.key == key]  # type: ignore[index]


async def test_o04_a_failed_head_is_not_overtaken_by_its_keys_later_events(outbox_db) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}, key="a") for n in range(3)))
    await outbox_db.write(*(Event("orders", {"n": n}, key="a") for n in range(3, 6)))
    failures = {2: 2}  # a:2 fails twice, then goes through

    def flaky(message: Message) -> BaseException | None:
        n = message.json()["n"]  # type: ignore[index]
        if failures.get(n, 0) > 0:
            failures[n] -= 1
            return TemporaryError("broker busy")
        return None

    publisher = MemoryPublisher(flaky)
    settings = RelaySettings(batch_size=2, backoff=FixedBackoff(3600.0))
    relays = [Relay(outbox_db.store, publisher, settings=settings) for _ in range(2)]
    past = "'-infinity'" if outbox_db.dialect == "postgresql" else "0"

    for round_ in range(4):
        relay = relays[round_ % 2]  # the relays take turns, sharing one outbox
        await relay.drain()
        assert numbers(publisher, "a") == list(range(min(len(numbers(publisher, "a")), 6)))
        # The retry is due only after an hour on the database clock; move it there.
        await outbox_db.execute(
            f"UPDATE {{events}} SET available_at = {past};"
            f"UPDATE {{lanes}} SET available_at = {past}"
        )

    assert numbers(publisher, "a") == [0, 1, 2, 3, 4, 5]
    assert sum(r.stats.retried for r in relays) == 2


async def test_o04_a_key_leased_by_one_relay_is_skipped_by_another(outbox_db) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}, key="a") for n in range(4)), Event("x"))
    store = outbox_db.store
    first = await store.claim("relay-1", 2, 30.0)
    assert [m.key for m in first.messages] == ["a", "a"]

    second = await store.claim("relay-2", 100, 30.0)

    assert [m.key for m in second.messages] == [None]
