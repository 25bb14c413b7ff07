"""O-3: when recording a delivery fails, the event is sent again, with the same id.

The window between "the broker has it" and "the outbox knows" cannot be
closed, so delivery is at least once, by design and documented. What matters:
nothing is lost, the repeat carries the same event id (brokers drop it with
their own duplicate detection) and it is counted as an attempt.
"""

from __future__ import annotations

from stores import Delegating

from relaybox.core.errors import SettleError
from relaybox.core.events import Event
from relaybox.outbox.relay import Relay
from relaybox.ports.store import Claim, Settlement, SettleReport
from relaybox.testing.publisher import MemoryPublisher


class SettleFailsOnce(Delegating):
    """The real store, except that the first settle dies as a lost connection would."""

    def __init__(self, store) -> None:  # type: ignore[no-untyped-def]
        super().__init__(store)
        self.failed = False

    async def settle(self, claim: Claim, settlement: Settlement, /) -> SettleReport:
        if not self.failed:
            self.failed = True
            raise ConnectionResetError("connection lost while settling")
        return await self.store.settle(claim, settlement)


async def test_o03_a_delivery_whose_settle_failed_is_sent_again_with_the_same_id(
    outbox_db,
) -> None:
    await outbox_db.write(Event("orders", key="a"), Event("orders", key="a"), Event("audit"))
    publisher = MemoryPublisher()
    relay = Relay(SettleFailsOnce(outbox_db.store), publisher)

    result = await relay.relay_batch()
    assert isinstance(result.error, SettleError)
    first = publisher.ids()
    assert len(first) == 3

    past = "'-infinity'" if outbox_db.dialect == "postgresql" else "0"
    await outbox_db.execute(f"UPDATE {{claims}} SET expires_at = {past}")
    await relay.drain()

    assert publisher.ids()[3:] == first
    assert [m.attempts for m in publisher.published[3:]] == [1, 1, 1]
    assert (await outbox_db.store.status()).pending == 0
