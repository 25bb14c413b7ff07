"""G-2: two relays never hold events of one key at the same time.

The hazard: with no claim, two instances double-send; with row-level
SKIP LOCKED, one entity's items are split across instances and published side
by side, out of order. Here a relay leases a whole lane (a key), and the lease
covers events committed after the claim too.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from relaybox.core.events import Event
from relaybox.ports.store import Settlement


async def test_g02_a_leased_key_stays_with_its_relay_until_settled(outbox_db) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}, key="a") for n in range(2)))
    store = outbox_db.store
    first = await store.claim("relay-1", 100, 30.0)
    await outbox_db.write(*(Event("orders", {"n": n}, key="a") for n in range(2, 4)))

    meanwhile = await store.claim("relay-2", 100, 30.0)
    assert meanwhile.messages == ()

    await store.settle(first, Settlement(delivered=first.messages))
    after = await store.claim("relay-2", 100, 30.0)
    assert [m.json()["n"] for m in after.messages] == [2, 3]  # type: ignore[index]


async def test_g02_relays_claiming_at_once_get_disjoint_keys(outbox_db) -> None:
    await outbox_db.write(
        *(Event("orders", {"n": n}, key=f"k{k}") for n in range(3) for k in range(12))
    )
    store = outbox_db.store

    claims = await asyncio.gather(*(store.claim(f"relay-{i}", 9, 30.0) for i in range(4)))

    owners = Counter(lane for claim in claims for lane in claim.lanes)
    assert all(count == 1 for count in owners.values())
    keys_by_claim = [{m.key for m in claim.messages} for claim in claims]
    for i, mine in enumerate(keys_by_claim):
        for theirs in keys_by_claim[i + 1 :]:
            assert not mine & theirs
    assert sum(len(c.messages) for c in claims) > 0
