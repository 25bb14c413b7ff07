"""O-24: a failure or a cancellation at any await of a claim's life strands nothing.

A claim is claimed, renewed, published, then settled or released. Each of
those awaits talks to the database or the destination and can fail or be
cancelled. Whichever it is, once the fault has passed every event is
delivered by the same relay, without a restart, nothing is dead-lettered and
no lease is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import pytest
from stores import Delegating

from relaybox.core.events import Event, Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.ports.store import Claim, Settlement, SettleReport
from relaybox.testing.conditions import wait_until
from relaybox.testing.publisher import MemoryPublisher

STEPS = ("claim", "extend", "publish", "settle", "release")


class Fault:
    """Strikes once at ``step``: raises, or hangs until the test cancels the caller."""

    def __init__(self, step: str, mode: str) -> None:
        self.step, self.mode = step, mode
        self.struck = False
        self.reached = asyncio.Event()

    async def at(self, step: str) -> None:
        if step != self.step or self.struck:
            return
        self.struck = True
        self.reached.set()
        if self.mode == "raise":
            raise ConnectionResetError(f"connection lost during {step}")
        await asyncio.Event().wait()  # until cancelled


class FaultyStore(Delegating):
    def __init__(self, store, fault: Fault) -> None:  # type: ignore[no-untyped-def]
        super().__init__(store)
        self.fault = fault

    async def claim(self, owner: str, limit: int, lease: float, /) -> Claim:
        await self.fault.at("claim")
        return await self.store.claim(owner, limit, lease)

    async def extend(self, claim: Claim, lease: float, /) -> bool:
        await self.fault.at("extend")
        return await self.store.extend(claim, lease)

    async def settle(self, claim: Claim, settlement: Settlement, /) -> SettleReport:
        await self.fault.at("settle" if settlement.decided() else "release")
        return await self.store.settle(claim, settlement)


class FaultyPublisher(MemoryPublisher):
    def __init__(self, fault: Fault) -> None:
        super().__init__()
        self.fault = fault

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        await self.fault.at("publish")
        await asyncio.sleep(0.08)  # long enough for a renewal to come round
        return await super().publish(messages)


@pytest.mark.parametrize("mode", ["raise", "cancel"])
@pytest.mark.parametrize("step", STEPS)
async def test_o24_a_fault_at_any_step_strands_nothing(outbox_db, step: str, mode: str) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}, key=f"k{n % 50}") for n in range(100)))
    fault = Fault(step, mode)
    publisher = FaultyPublisher(fault)
    settings = RelaySettings(lease=0.15, batch_size=10, poll_max=0.05, grace=0.5)
    relay = Relay(FaultyStore(outbox_db.store, fault), publisher, settings=settings)

    if step == "release":
        await _release_after_a_stop(relay, fault, mode)
    elif mode == "cancel":
        once = asyncio.create_task(relay.relay_batch())
        await wait_until(fault.reached.is_set, what="the fault")
        once.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await once
    await _relay_until_empty(relay, outbox_db)

    assert fault.struck
    assert {m.id for m in publisher.published} == set(await _written(publisher, outbox_db))
    status = await outbox_db.store.status()
    assert (status.pending, status.dead, status.in_flight) == (0, 0, 0)
    await wait_until(lambda: not relay.source._renewals, what="renewals stopped")


async def _release_after_a_stop(relay: Relay, fault: Fault, mode: str) -> None:
    """A stop hands back the claims made ahead: that release is where the fault strikes."""
    runner = asyncio.create_task(relay.run())
    await wait_until(lambda: relay.stats.delivered > 0, what="a first delivery")
    stopping = asyncio.create_task(relay.stop())
    if mode == "cancel":
        await wait_until(fault.reached.is_set, what="the fault")
        runner.cancel()
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await runner
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await stopping


async def _relay_until_empty(relay: Relay, outbox_db) -> None:  # type: ignore[no-untyped-def]
    runner = asyncio.create_task(relay.run())
    try:
        deadline = time.monotonic() + 20
        while (await outbox_db.store.status()).pending:
            assert time.monotonic() < deadline, "events were stranded"
            await asyncio.sleep(0.02)
    finally:
        await relay.stop()
        with contextlib.suppress(Exception):
            await runner


async def _written(publisher: MemoryPublisher, outbox_db) -> list[str]:  # type: ignore[no-untyped-def]
    return list({m.id for m in publisher.published})
