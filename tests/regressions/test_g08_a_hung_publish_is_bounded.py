"""G-8: one hung send cannot hold the relay hostage, and no key's events are lost to it.

The hazard: no per-item timeout, so one ``Send`` that never returns blocks the
batch barrier and with it every entity. Here the ``timeout`` middleware ends
the call: the batch fails as a whole (its sends may or may not have arrived,
so it is retried: at least once), the relay moves on, and every key's events
are delivered once the destination answers again, each key in order.
"""

from __future__ import annotations

import asyncio

from relaybox.core.events import Event, Message
from relaybox.outbox.publishers import CallbackPublisher
from relaybox.outbox.relay import Relay
from relaybox.pipeline.middleware.timeout import timeout
from relaybox.testing import FakeClock, wait_until


async def test_g08_a_hung_send_times_out_and_every_key_is_still_delivered(outbox_db) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}, key=k) for n in range(3) for k in "abc"))
    clock = FakeClock()
    hung = asyncio.Event()
    delivered: list[Message] = []

    async def send(message: Message) -> None:
        if message.key == "b" and not hung.is_set():
            hung.set()
            await asyncio.Event().wait()  # the destination never answers
        delivered.append(message)

    relay = Relay(outbox_db.store, CallbackPublisher(send), middleware=[timeout(5.0, clock=clock)])
    poll = asyncio.create_task(relay.relay_batch())
    await wait_until(lambda: hung.is_set() and len(delivered) == 6, what="the other keys' sends")

    await clock.advance(5.0)
    result = await poll

    assert result.fetched == 9
    assert relay.stats.retried == 9  # sent or not, the batch is tried again
    past = "'-infinity'" if outbox_db.dialect == "postgresql" else "0"
    await outbox_db.execute(
        f"UPDATE {{events}} SET available_at = {past}; UPDATE {{lanes}} SET available_at = {past}"
    )
    await relay.drain()

    for key in "abc":
        firsts: list[int] = []
        for m in delivered:
            n = m.json()["n"]  # type: ignore[index]
            if m.key == key and n not in firsts:
                firsts.append(n)
        assert firsts == [0, 1, 2]
    assert (await outbox_db.store.status()).pending == 0
