"""G-5: a key's events keep their order at every step, batch cuts and concurrency included.

The hazard: an unstable sort reordered items with equal sequence numbers.
Here a key's events carry gapless sequence numbers taken in commit order,
every claim reads a lane by ``(seq, id)``, and the send loop keeps a key's
messages in arrival order while other keys run beside them.
"""

from __future__ import annotations

import asyncio
import random

from relaybox.core.events import Event, Message
from relaybox.outbox.publishers import publish_in_key_order
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.testing.messages import message as make_message
from relaybox.testing.publisher import MemoryPublisher


async def test_g05_a_keys_events_arrive_in_write_order_across_batches(outbox_db) -> None:
    written = 0
    for size in (1, 4, 2, 5, 3):
        mine = [Event("orders", {"n": written + i}, key="a") for i in range(size)]
        others = [Event("orders", {"n": i}, key=f"b{i}") for i in range(size)]
        await outbox_db.write(*others[:1], *mine, *others[1:])  # interleaved in one call
        written += size
    publisher = MemoryPublisher()

    await Relay(outbox_db.store, publisher, settings=RelaySettings(batch_size=3)).drain()

    mine = [m for m in publisher.published if m.key == "a"]
    assert [m.json()["n"] for m in mine] == list(range(written))  # type: ignore[index]
    assert [m.seq for m in mine] == list(range(1, written + 1))


def message(n: int, key: str) -> Message:
    return make_message(n, key=key, lane="k:" + key)


async def test_g05_the_send_loop_keeps_arrival_order_within_each_key() -> None:
    rng = random.Random(7)
    keys = ["a", "b", "c", "d"]
    messages = [message(n, rng.choice(keys)) for n in range(200)]
    sent: list[Message] = []

    async def send(m: Message) -> None:
        for _ in range(rng.randint(0, 3)):  # acknowledgements come back at different speeds
            await asyncio.sleep(0)
        sent.append(m)

    outcome = await publish_in_key_order(messages, send, max_concurrent_keys=3)

    assert len(outcome.delivered) == 200
    for key in keys:
        assert [m.row_id for m in sent if m.key == key] == [
            m.row_id for m in messages if m.key == key
        ]
