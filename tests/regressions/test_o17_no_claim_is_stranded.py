"""O-17: whatever fails or is cancelled in a claim's life, the claim is settled,
released or left to expire with its renewal stopped; nothing waits for a restart.

Before: ``settle()`` took the claim off the source, then raised the previous
settle's error, so that claim was never recorded or released and its renewal
kept its lease alive for as long as the relay ran (its keys stopped). A
cancelled ``run_once()`` left its claim leased and renewed, and the next call
overwrote it. When ``close()`` raised during ``run()``'s shutdown, the
``LISTEN`` connection was never closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

from stores import Delegating

from relaybox.core.events import Event, Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.ports.store import Claim, Settlement, SettleReport
from relaybox.testing.conditions import wait_until
from relaybox.testing.publisher import MemoryPublisher


class FlakySettles(Delegating):
    """The real store, except that settles fail while ``down`` (a database cut)."""

    def __init__(self, store) -> None:  # type: ignore[no-untyped-def]
        super().__init__(store)
        self.down = False
        self.failures = 0
        self.unsubscribed = False

    async def settle(self, claim: Claim, settlement: Settlement, /) -> SettleReport:
        if self.down:
            self.failures += 1
            raise ConnectionResetError("server closed the connection unexpectedly")
        return await self.store.settle(claim, settlement)

    async def subscribe(self, wake: Callable[[], None], /) -> Callable[[], Awaitable[None]]:
        async def unsubscribe() -> None:
            self.unsubscribed = True

        return unsubscribe


async def test_o17_a_failed_settle_strands_no_claim_and_everything_is_delivered(
    outbox_db,
) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}, key=f"k{n % 10}") for n in range(60)))
    store = FlakySettles(outbox_db.store)
    store.down = True
    publisher = MemoryPublisher()
    relay = Relay(store, publisher, settings=RelaySettings(lease=1.0, batch_size=5))
    runner = asyncio.create_task(relay.run())
    try:
        # Several claims give up on their settle while the database is down.
        await wait_until(lambda: store.failures >= 12, within=20, what="failed settles")
        store.down = False
        await _until_empty(outbox_db)
    finally:
        await relay.stop()
        await runner

    first = {}
    for m in publisher.published:
        first.setdefault(m.id, m)
    assert len(first) == 60
    for key, messages in _by_key(list(first.values())).items():
        assert [m.seq for m in messages] == sorted(m.seq for m in messages), key
    status = await outbox_db.store.status()
    assert (status.pending, status.in_flight, status.dead) == (0, 0, 0)
    assert relay.source._renewals == {}


async def test_o17_a_cancelled_run_once_releases_its_claim(outbox_db) -> None:
    await outbox_db.write(Event("orders", key="a"), Event("orders", key="b"))
    hang = asyncio.Event()

    class HangsOnce(MemoryPublisher):
        async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
            if not hang.is_set():
                hang.set()
                await asyncio.Event().wait()
            return await super().publish(messages)

    publisher = HangsOnce()
    relay = Relay(outbox_db.store, publisher)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(relay.relay_batch(), 0.2)

    assert relay.source._renewals == {}
    assert await outbox_db.scalar("SELECT count(*) FROM {claims}") == 0
    result = await relay.relay_batch()
    assert result.delivered == 2
    assert (await outbox_db.store.status()).pending == 0


async def test_o17_the_listen_connection_closes_even_when_the_last_settle_failed(
    outbox_db,
) -> None:
    await outbox_db.write(Event("orders", key="a"))
    store = FlakySettles(outbox_db.store)
    store.down = True
    relay = Relay(store, MemoryPublisher(), settings=RelaySettings(lease=0.2))
    runner = asyncio.create_task(relay.run())
    await wait_until(lambda: store.failures >= 1, what="a failed settle")
    await relay.stop()
    with contextlib.suppress(ConnectionResetError):
        await runner

    assert store.unsubscribed


async def _until_empty(outbox_db) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while (await outbox_db.store.status()).pending:
        assert time.monotonic() < deadline, "events were stranded"
        await asyncio.sleep(0.05)


def _by_key(messages: list[Message]) -> dict[str | None, list[Message]]:
    groups: dict[str | None, list[Message]] = {}
    for m in messages:
        groups.setdefault(m.key, []).append(m)
    return groups


async def test_o17_a_claim_nothing_settled_is_released_by_the_next_fetch(outbox_db) -> None:
    """A coordinator whose apply was cancelled fetches again without settling: the
    earlier claim is handed back (its renewal stopped), never overwritten."""
    await outbox_db.write(Event("orders", key="a"), Event("orders", key="b"))
    source = Relay(outbox_db.store, MemoryPublisher()).source

    first = await source.fetch(10)
    again = await source.fetch(10)

    assert len(first) == len(again) == 2
    assert len(source._renewals) == 1
    assert await outbox_db.scalar("SELECT count(*) FROM {claims}") == 1
    await source.close()
    assert source._renewals == {}
    assert await outbox_db.scalar("SELECT count(*) FROM {claims}") == 0
