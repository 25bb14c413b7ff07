"""O-3: when recording a delivery fails, the event is sent again, with the same id.

The window between "the broker has it" and "the outbox knows" cannot be
closed, so delivery is at least once, by design and documented. What matters:
nothing is lost, the repeat carries the same event id (brokers drop it with
their own duplicate detection) and the expired lease is counted (apart from
the publish attempts). A settle that fails once is tried again while the lease
lasts, which spares the repeat.
"""

from __future__ import annotations

from stores import Delegating

from relaybox.core.errors import SettleError
from relaybox.core.events import Event
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.ports.store import Claim, Settlement, SettleReport
from relaybox.testing.publisher import MemoryPublisher


class SettleFails(Delegating):
    """The real store, except that the first ``times`` settles die as a lost connection would."""

    def __init__(self, store, times: int) -> None:  # type: ignore[no-untyped-def]
        super().__init__(store)
        self.left = times

    async def settle(self, claim: Claim, settlement: Settlement, /) -> SettleReport:
        if self.left:
            self.left -= 1
            raise ConnectionResetError("connection lost while settling")
        return await self.store.settle(claim, settlement)


async def test_o03_a_delivery_whose_settle_failed_is_sent_again_with_the_same_id(
    outbox_db,
) -> None:
    await outbox_db.write(Event("orders", key="a"), Event("orders", key="a"), Event("audit"))
    publisher = MemoryPublisher()
    # The lease is short, so the settle's tries (while the lease lasts) run out.
    store = SettleFails(outbox_db.store, 1000)
    relay = Relay(store, publisher, settings=RelaySettings(lease=0.5))

    result = await relay.relay_batch()
    assert isinstance(result.error, SettleError)
    first = publisher.ids()
    assert len(first) == 3

    store.left = 0  # the database is back
    past = "'-infinity'" if outbox_db.dialect == "postgresql" else "0"
    await outbox_db.execute(f"UPDATE {{claims}} SET expires_at = {past}")
    await relay.drain()

    assert publisher.ids()[3:] == first
    assert [(m.attempts, m.lease_expiries) for m in publisher.published[3:]] == [(0, 1)] * 3
    assert (await outbox_db.store.status()).pending == 0


async def test_o03_a_settle_that_fails_once_is_written_on_its_next_try(outbox_db) -> None:
    await outbox_db.write(Event("orders", key="a"), Event("audit"))
    publisher = MemoryPublisher()
    relay = Relay(SettleFails(outbox_db.store, 1), publisher)

    result = await relay.relay_batch()

    assert result.error is None
    assert len(publisher.ids()) == 2
    assert (await outbox_db.store.status()).pending == 0
    assert relay.stats.settle_failures == 1
