"""O-1: a poison event never loops; a stop hands its claim back; an expired lease is an attempt.

The hazard: an event that cannot be published (invalid, or crashing the relay)
stays claimed, is recovered without counting an attempt and claimed again,
forever; and a stopped relay leaves its claim to time out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from itertools import count

import asyncpg
import pytest

from relaybox.adapters.postgres import PostgresStore
from relaybox.core.errors import EventValidationError, PermanentError
from relaybox.core.events import Event, Message, lane_of
from relaybox.core.outcome import Outcome
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox
from relaybox.ports.store import Claim, DeadFilter, Settlement, SettleReport
from relaybox.testing import FakeClock, wait_until
from relaybox.testing.messages import message as make_message
from relaybox.testing.publisher import MemoryPublisher


def past(outbox_db) -> str:  # type: ignore[no-untyped-def]
    return "'-infinity'" if outbox_db.dialect == "postgresql" else "0"


async def test_o01_an_invalid_event_is_refused_at_add_and_nothing_is_written(outbox_db) -> None:
    with pytest.raises(EventValidationError, match="payload"):
        await outbox_db.write(Event("orders", {"n": 1}), Event("orders", {"bad": {1, 2}}))

    assert (await outbox_db.store.status()).pending == 0


async def test_o01_a_poison_event_is_dead_lettered_after_one_try(outbox_db) -> None:
    await outbox_db.write(Event("orders", {"n": 0}, key="a"), Event("orders", {"n": 1}))
    tries: list[str] = []

    def poison(message: Message) -> BaseException | None:
        tries.append(message.id)
        return PermanentError("unparseable") if message.key == "a" else None

    relay = Relay(outbox_db.store, MemoryPublisher(poison))
    await relay.drain()
    await relay.drain()

    assert len(tries) == 2  # each event tried once; the poison one never again
    [dead] = await outbox_db.store.dead_letters(DeadFilter(), 10)
    assert (dead.key, dead.attempts, dead.error) == ("a", 1, "PermanentError: unparseable")


async def test_o01_an_expired_lease_counts_as_an_attempt(outbox_db) -> None:
    await outbox_db.write(Event("orders", key="a"), Event("orders"))
    crashed = await outbox_db.store.claim("crashed-relay", 10, 30.0)
    assert len(crashed.messages) == 2
    await outbox_db.execute(f"UPDATE {{claims}} SET expires_at = {past(outbox_db)}")

    again = await outbox_db.store.claim("next-relay", 10, 30.0)

    assert [(m.attempts, m.lease_expiries) for m in again.messages] == [(0, 1), (0, 1)]
    assert again.reclaimed == 2
    error = await outbox_db.scalar("SELECT max(last_error) FROM {events}")
    assert "crashed-relay" in str(error)


async def test_o01_an_expired_lease_counts_only_for_the_events_it_had_claimed(
    pg_store: PostgresStore, pg_dsn: str, tables: Tables
) -> None:
    """An unkeyed event that committed after the claim was never part of it.

    PostgreSQL numbers rows at insert, not at commit, so such an event can have
    an older row number than the claimed ones of its lane. With
    ``max_attempts=1`` a wrongly counted attempt would make it a dead letter
    that was never published.
    """
    late = "late-commit"
    on_time = next(
        f"on-time-{i}" for i in count() if lane_of(None, f"on-time-{i}") == lane_of(None, late)
    )
    outbox = Outbox(tables)
    slow, other = await asyncpg.connect(pg_dsn), await asyncpg.connect(pg_dsn)
    try:
        transaction = slow.transaction()
        await transaction.start()
        await outbox.add_async(slow, Event("orders", id=late))  # the older row number
        async with other.transaction():
            await outbox.add_async(other, Event("orders", id=on_time))
        crashed = await pg_store.claim("crashed-relay", 10, 30.0)
        assert [m.id for m in crashed.messages] == [on_time]
        await transaction.commit()
        await other.execute(tables.render("UPDATE {claims} SET expires_at = '-infinity'"))
    finally:
        await slow.close()
        await other.close()

    again = await pg_store.claim("next-relay", 10, 30.0)

    assert {m.id: m.lease_expiries for m in again.messages} == {on_time: 1, late: 0}


async def test_o01_an_event_whose_leases_kept_expiring_is_dead_lettered_untried(outbox_db) -> None:
    """Its relay crashed on it every time: the last expired lease used the last allowed one.

    Even when that event is all a claim returns, it must become a dead letter
    (saying truly why: its leases expired, not that it failed to publish) and
    its lane must be let go.
    """
    await outbox_db.write(Event("orders", key="a"))
    await outbox_db.execute("UPDATE {events} SET lease_expiries = 3")
    publisher = MemoryPublisher()
    relay = Relay(outbox_db.store, publisher, settings=RelaySettings(max_lease_expiries=3))

    await relay.drain()

    assert publisher.calls == 0
    [dead] = await outbox_db.store.dead_letters(DeadFilter(), 10)
    assert (dead.key, dead.attempts, dead.error_type) == ("a", 0, "LeaseExpiredError")
    assert "lease expired unsettled 3 times" in dead.error
    status = await outbox_db.store.status()
    assert (status.pending, status.in_flight, status.parked_keys) == (0, 0, 1)


class HungPublisher:
    """Never returns and ignores the stop signal: only cancellation ends it."""

    def __init__(self) -> None:
        self.calls = 0

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        self.calls += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def close(self) -> None:
        return None


async def test_o01_a_relay_stopped_mid_publish_hands_its_claim_back_at_once(outbox_db) -> None:
    """A hard stop (the grace ran out, the publish was cancelled) lets go of the claim.

    Nothing is recorded about the interrupted batch and nothing keeps renewing
    its lease: another relay gets the events at once, not after the 30 s lease.
    """
    await outbox_db.write(Event("orders", key="a"))
    publisher = HungPublisher()
    relay = Relay(outbox_db.store, publisher, settings=RelaySettings(lease=30.0, grace=0.05))
    running = asyncio.create_task(relay.run())
    await wait_until(lambda: publisher.calls == 1, what="the publish call")

    await relay.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await running

    again = await outbox_db.store.claim("other-relay", 10, 30.0)
    assert [(m.key, m.attempts) for m in again.messages] == [("a", 0)]


def unkeyed(n: int) -> Message:
    return make_message(n, lane=f"u:{n}")


class DryLaneStore:
    """Its second claim leases a lane whose events another relay has just delivered.

    Its settles wait at a gate, so that claim arrives while a settle is still
    being written (claims and settles are pipelined).
    """

    def __init__(self) -> None:
        self.claims = [Claim("r", 1, ("u:1",), (unkeyed(1),)), Claim("r", 2, ("u:2",), ())]
        self.gate = asyncio.Event()
        self.settled: list[int] = []
        self.renewed: list[int] = []

    async def claim(self, owner: str, limit: int, lease: float, /) -> Claim:
        return self.claims.pop(0) if self.claims else Claim(owner, 0, (), ())

    async def settle(self, claim: Claim, settlement: Settlement, /) -> SettleReport:
        await self.gate.wait()
        self.settled.append(claim.token)
        return SettleReport(len(settlement.delivered))

    async def extend(self, claim: Claim, lease: float, /) -> bool:
        self.renewed.append(claim.token)
        return True

    async def cleanup(self, dead_retention: float, batch_size: int, /) -> int:
        return 0

    async def close(self) -> None:
        return None


async def test_o01_a_claim_with_nothing_left_to_publish_is_handed_back_at_once() -> None:
    """Its lanes must not stay leased (and renewed) while the relay runs on."""
    clock = FakeClock()
    store = DryLaneStore()
    relay = Relay(store, MemoryPublisher(), clock=clock)  # type: ignore[arg-type]
    running = asyncio.create_task(relay.run())
    try:
        await wait_until(lambda: not store.claims, what="both claims")
        store.gate.set()
        await wait_until(lambda: 2 in store.settled, within=2, what="the dry claim's release")
        await clock.advance(relay.settings.lease)
        assert 2 not in store.renewed
    finally:
        await relay.stop()
        await running
