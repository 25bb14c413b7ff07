"""G-4: a relay never spins: failed claims back off, failed batches wait, idle waits end on stop.

The hazards: a failed fetch ``continue``-d without sleeping, a failed batch was
fetched again at once, and the idle sleep ignored shutdown. Time here is a
:class:`FakeClock`, so every wait is visible and nothing really sleeps.
"""

from __future__ import annotations

import asyncio

from relaybox.core.errors import TemporaryError
from relaybox.core.events import Message
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.ports.store import Claim, Settlement, SettleReport
from relaybox.testing import FakeClock, settle, wait_until
from relaybox.testing.messages import message as make_message
from relaybox.testing.publisher import MemoryPublisher


def message(n: int) -> Message:
    return make_message(n, lane=f"u:{n}")


class StubStore:
    """An outbox that fails every claim, or offers the same messages every time."""

    def __init__(self, *, error: Exception | None = None, messages: tuple[Message, ...] = ()):
        self.error = error
        self.messages = messages
        self.claims = 0
        self.settles = 0

    async def claim(self, owner: str, limit: int, lease: float, /) -> Claim:
        self.claims += 1
        if self.error is not None:
            raise self.error
        lanes = tuple(m.lane for m in self.messages)
        return Claim(owner, self.claims, lanes, self.messages)

    async def settle(self, claim: Claim, settlement: Settlement, /) -> SettleReport:
        self.settles += 1
        return SettleReport(len(settlement.delivered) + len(settlement.retry))

    async def extend(self, claim: Claim, lease: float, /) -> bool:
        return True

    async def cleanup(self, dead_retention: float, batch_size: int, /) -> int:
        return 0

    async def close(self) -> None:
        return None


async def test_g04_a_failing_claim_waits_its_error_backoff_before_the_next() -> None:
    clock = FakeClock()
    store = StubStore(error=ConnectionRefusedError("database down"))
    relay = Relay(store, MemoryPublisher(), clock=clock)  # type: ignore[arg-type]
    running = asyncio.create_task(relay.run())
    try:
        await wait_until(lambda: store.claims == 1 and clock.sleepers == 2, what="a backoff")
        # The relay's database errors back off as outages do: 1 s doubling, 20 % jitter.
        await clock.advance(0.75)
        assert store.claims == 1
        await clock.advance(0.5)  # t = 1.25: past the first backoff (1 s +- 20 %)
        assert store.claims == 2
        await clock.advance(1.1)  # t = 2.35: the second (2 s +- 20 %) is still running
        assert store.claims == 2
        await clock.advance(1.3)  # t = 3.65: it is over
        assert store.claims == 3
    finally:
        await relay.stop()
        await running


async def test_g04_a_batch_that_failed_entirely_is_not_fetched_again_at_once() -> None:
    clock = FakeClock()
    store = StubStore(messages=(message(1), message(2)))
    publisher = MemoryPublisher(lambda m: TemporaryError("broker down"))
    relay = Relay(store, publisher, clock=clock)  # type: ignore[arg-type]
    running = asyncio.create_task(relay.run())
    try:
        polling = relay.settings.poll_max
        await wait_until(
            lambda: publisher.calls == 1 and any(s <= polling for s in clock.slept),
            what="the wait after the failed batch",
        )
        await settle()
        assert publisher.calls == 1  # waiting, not spinning
        await clock.advance(polling)
        await wait_until(lambda: publisher.calls >= 2, what="the next poll")
        # The waits double from poll_min up to poll_max: a handful of polls per second.
        assert publisher.calls <= 12
    finally:
        await relay.stop()
        await running


async def test_g04_an_idle_wait_ends_as_soon_as_the_relay_is_stopped() -> None:
    clock = FakeClock()
    store = StubStore()
    settings = RelaySettings(poll_min=3600.0, poll_max=3600.0)
    relay = Relay(store, MemoryPublisher(), settings=settings, clock=clock)  # type: ignore[arg-type]
    running = asyncio.create_task(relay.run())
    await wait_until(lambda: store.claims == 1 and clock.sleepers == 2, what="an idle wait")

    await relay.stop()

    assert running.done()
    assert clock.monotonic() == 0.0
