"""O-23: a claim holds a bounded number of payload bytes, whatever the events' size.

Before: batches of 1000 events were claimed whatever their size: with 1 MiB
payloads and two claims ahead a relay held about 3 GB. A claim now stops at
its byte budget (``claim_bytes``, 16 MiB by default): the first event always
fits, then events while the payloads before them stay under the budget, so a
claim still holds each key's head in order.
"""

from __future__ import annotations

from relaybox.core.events import Event
from relaybox.outbox.relay import Relay
from relaybox.ports.store import Settlement
from relaybox.testing.publisher import MemoryPublisher

KIB = 1024


async def test_o23_a_claim_stops_at_its_byte_budget(outbox_db) -> None:
    events = [Event("blobs", b"x" * (4 * KIB), key=f"k{n % 3}") for n in range(12)]
    await outbox_db.write(*events)
    outbox_db.store.claim_bytes = 10 * KIB

    claim = await outbox_db.store.claim("relay", 1000, 30.0)

    assert len(claim.messages) == 3  # 0, 4 and 8 KiB came before them: under 10 KiB
    assert sum(len(m.payload) for m in claim.messages) <= 10 * KIB + 4 * KIB
    await outbox_db.store.settle(claim, Settlement(delivered=claim.messages))


async def test_o23_an_event_larger_than_the_budget_still_goes_alone(outbox_db) -> None:
    await outbox_db.write(Event("blobs", b"x" * (64 * KIB), key="big"), Event("blobs", b"y"))
    outbox_db.store.claim_bytes = 10 * KIB

    claim = await outbox_db.store.claim("relay", 1000, 30.0)

    assert [len(m.payload) for m in claim.messages] == [64 * KIB]


async def test_o23_the_relay_delivers_everything_in_budget_sized_claims(outbox_db) -> None:
    await outbox_db.write(*(Event("blobs", b"x" * (4 * KIB), key=f"k{n % 5}") for n in range(40)))
    outbox_db.store.claim_bytes = 16 * KIB
    publisher = MemoryPublisher()
    relay = Relay(outbox_db.store, publisher)

    await relay.drain()

    assert len(publisher.published) == 40
    assert publisher.calls >= 10
    for key in {m.key for m in publisher.published}:
        seqs = [m.seq for m in publisher.published if m.key == key]
        assert seqs == sorted(seqs)
