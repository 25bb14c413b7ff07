"""O-14: a claimed batch goes to the publisher in one call, and keys are sent concurrently.

The hazard: one synchronous delivery round trip per event, strictly in turn.
Here the publisher receives the whole claim at once (grouped by key, each in
sequence order), and the shared send loop keeps several keys in flight while
each key's messages still go one after another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from relaybox.core.events import Event, Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.publishers import CallbackPublisher
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings


class BatchRecorder:
    def __init__(self) -> None:
        self.batches: list[list[Message]] = []

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        self.batches.append(list(messages))
        return Outcome.all_delivered(messages)

    async def close(self) -> None:
        return None


async def test_o14_the_publisher_receives_the_whole_claim_in_one_call(outbox_db) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}, key=f"k{n % 5}") for n in range(50)))
    publisher = BatchRecorder()
    relay = Relay(outbox_db.store, publisher, settings=RelaySettings(batch_size=50))

    await relay.relay_batch()

    [batch] = publisher.batches
    assert len(batch) == 50
    for key in {m.key for m in batch}:
        seqs = [m.seq for m in batch if m.key == key]
        assert seqs == sorted(seqs)


async def test_o14_keys_are_in_flight_together_while_each_key_stays_in_order(outbox_db) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}, key=f"k{n % 8}") for n in range(40)))
    in_flight: set[str | None] = set()
    most = 0
    sent: list[Message] = []

    async def send(message: Message) -> None:
        nonlocal most
        assert message.key not in in_flight, "one key had two messages in flight"
        in_flight.add(message.key)
        most = max(most, len(in_flight))
        await asyncio.sleep(0)  # an acknowledgement on its way
        in_flight.discard(message.key)
        sent.append(message)

    relay = Relay(outbox_db.store, CallbackPublisher(send), settings=RelaySettings(batch_size=40))
    await relay.drain()

    assert len(sent) == 40
    assert most > 1
    for key in {m.key for m in sent}:
        seqs = [m.seq for m in sent if m.key == key]
        assert seqs == sorted(seqs)
