"""G-3: recording a delivery is not cut short by the stop that ends the relay.

The hazard: the acknowledgement ran under the same cancelled context as the
send, so a shutdown right after a successful send left the item in place to be
sent again. Here the settle is shielded: when a stop's grace runs out while a
settle is in flight, the settle still gets its own grace period and finishes.
"""

from __future__ import annotations

import asyncio
import contextlib

from stores import Delegating

from relaybox.core.events import Event
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.ports.store import Claim, Settlement, SettleReport
from relaybox.testing import FakeClock, wait_until
from relaybox.testing.publisher import MemoryPublisher


class SlowSettle(Delegating):
    """The real store, with every settle held at a gate the test opens."""

    def __init__(self, store) -> None:  # type: ignore[no-untyped-def]
        super().__init__(store)
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def settle(self, claim: Claim, settlement: Settlement, /) -> SettleReport:
        self.entered.set()
        await self.gate.wait()
        return await self.store.settle(claim, settlement)


async def test_g03_a_settle_in_flight_when_the_grace_runs_out_still_completes(outbox_db) -> None:
    await outbox_db.write(*(Event("orders", key=k) for k in "abc"))
    clock = FakeClock()
    store = SlowSettle(outbox_db.store)
    publisher = MemoryPublisher()
    relay = Relay(store, publisher, settings=RelaySettings(grace=5.0), clock=clock)
    running = asyncio.create_task(relay.run())
    await wait_until(store.entered.is_set, what="the settle to start")

    stopping = asyncio.create_task(relay.stop())
    await clock.advance(5.0)  # the stop's grace is over: the relay is cancelled mid-settle
    store.gate.set()  # the database answers within the settle's own grace
    await stopping
    with contextlib.suppress(asyncio.CancelledError):
        await running

    assert len(publisher.published) == 3
    assert (await outbox_db.store.status()).pending == 0
