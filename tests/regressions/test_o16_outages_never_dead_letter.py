"""O-16: a destination outage uses up no attempts and dead-letters nothing.

Before: when ``publish`` raised, the store still wrote ``attempts + 1``, so
after ``max_attempts`` outage polls every event became a dead letter with the
false error "leases kept expiring", and every key parked. The same happened
when a callback's send raised ``ConnectionError`` for each event. Now a
failure that says the destination is unavailable (the call raised; or the
event's error is a connection error, a timeout or ``DestinationUnavailableError``)
counts no attempt, opens the relay's breaker and is logged once per state
change; only event-specific failures count, and ``max_age`` alone (when a user
asks for it) dead-letters after a long outage, saying why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import pytest

from relaybox.core.backoff import Backoff
from relaybox.core.errors import DestinationUnavailableError
from relaybox.core.events import Event, Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.publishers import CallbackPublisher, JsonLinesPublisher
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.ports.store import DeadFilter

NO_PAUSE = Backoff(initial=0.0, max_delay=0.0, jitter=0.0)


async def until(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def rounds(relay: Relay, count: int) -> None:
    """``count`` polls that claimed something (each one an outage poll here)."""
    for _ in range(count):

        async def claimed() -> bool:
            return (await relay.relay_batch()).fetched > 0

        await until(claimed)


async def test_o16_a_publish_that_raises_uses_up_no_attempts(outbox_db, tmp_path) -> None:
    await outbox_db.write(Event("orders", key="a"), Event("orders", key="a"), Event("audit"))
    missing = JsonLinesPublisher(tmp_path / "missing-dir" / "x.jsonl")
    settings = RelaySettings(max_attempts=2, outage_backoff=NO_PAUSE)
    relay = Relay(outbox_db.store, missing, settings=settings)

    await rounds(relay, 5)

    assert await outbox_db.store.dead_letters(DeadFilter(), 10) == []
    status = await outbox_db.store.status()
    assert (status.pending, status.dead, status.parked_keys) == (3, 0, 0)
    assert await outbox_db.scalar("SELECT max(attempts) FROM {events}") == 0
    assert "FileNotFoundError" in str(
        await outbox_db.scalar("SELECT max(last_error) FROM {events}")
    )
    assert relay.source.outage.open


@pytest.mark.parametrize(
    "error",
    [ConnectionError("refused"), TimeoutError("no answer"), DestinationUnavailableError("down")],
)
async def test_o16_per_event_connection_errors_are_an_outage_not_poison(outbox_db, error) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}, key="a") for n in range(3)))
    down = True
    sent: list[int] = []

    def send(message: Message) -> None:
        if down:
            raise error
        sent.append(message.json()["n"])  # type: ignore[index]

    settings = RelaySettings(max_attempts=2, outage_backoff=NO_PAUSE)
    relay = Relay(outbox_db.store, CallbackPublisher(send), settings=settings)
    await rounds(relay, 4)
    assert (await outbox_db.store.status()).dead == 0

    down = False
    await relay.drain()

    assert sent == [0, 1, 2]
    assert (await outbox_db.store.status()).pending == 0
    assert not relay.source.outage.open


async def test_o16_event_specific_failures_still_count(outbox_db) -> None:
    await outbox_db.write(Event("orders", key="a"))

    def send(message: Message) -> None:
        raise ValueError("the broker refused this body")

    settings = RelaySettings(max_attempts=2, backoff=NO_PAUSE, outage_backoff=NO_PAUSE)
    relay = Relay(outbox_db.store, CallbackPublisher(send), settings=settings)
    await rounds(relay, 2)

    [dead] = await outbox_db.store.dead_letters(DeadFilter(), 10)
    assert (dead.attempts, dead.error) == (2, "ValueError: the broker refused this body")


async def test_o16_max_age_dead_letters_a_long_outage_only_when_asked(outbox_db) -> None:
    await outbox_db.write(Event("orders", key="a"))

    def send(message: Message) -> None:
        raise ConnectionRefusedError("nobody listens")

    settings = RelaySettings(max_age=0.05, outage_backoff=NO_PAUSE)
    relay = Relay(outbox_db.store, CallbackPublisher(send), settings=settings)

    async def dead() -> bool:
        if (await outbox_db.store.status()).dead:
            return True
        await relay.relay_batch()
        return False

    await until(dead)
    [letter] = await outbox_db.store.dead_letters(DeadFilter(), 10)
    assert letter.error_type == "DestinationUnavailableError"
    assert "longer than max_age (0.05 s)" in letter.error
    assert "ConnectionRefusedError: nobody listens" in letter.error
    assert letter.attempts == 0


async def test_o16_the_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    outbox_db, caplog: pytest.LogCaptureFixture
) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}) for n in range(5)))
    down = True
    sent: list[str] = []

    async def send(message: Message) -> None:
        if down:
            raise ConnectionResetError("connection reset by peer")
        sent.append(message.id)

    settings = RelaySettings(outage_backoff=Backoff(initial=0.005, max_delay=0.02, jitter=0.0))
    relay = Relay(outbox_db.store, CallbackPublisher(send), settings=settings)
    caplog.set_level(logging.INFO, logger="relaybox.relay")
    runner = asyncio.create_task(relay.run())
    try:
        await until(lambda: _true(relay.coordinator.polls >= 8))
        assert relay.source.outage.open
        down = False
        await until(lambda: _true(len(sent) == 5))
    finally:
        await relay.stop()
        await runner

    unavailable = [r for r in caplog.records if "destination is unavailable" in r.getMessage()]
    back = [r for r in caplog.records if "destination is back" in r.getMessage()]
    assert [r.levelno for r in unavailable] == [logging.WARNING]
    assert [r.levelno for r in back] == [logging.INFO]
    assert relay.source.outage.outages == 1
    assert (await outbox_db.store.status()).dead == 0
    per_batch = [r for r in caplog.records if r.levelno >= logging.WARNING and r not in unavailable]
    assert per_batch == []


async def _true(value: bool) -> bool:
    return value


async def test_o16_a_publisher_that_reports_its_whole_call_failed_is_an_outage_too(
    outbox_db, caplog: pytest.LogCaptureFixture
) -> None:
    """``Outcome.failed(..., fatal=True)`` says what raising says: no attempt, no traceback."""
    await outbox_db.write(Event("orders", key="a"), Event("mail"))

    class Down:
        async def publish(self, messages, /):  # type: ignore[no-untyped-def]
            return Outcome.failed(messages, OSError(28, "No space left on device"), fatal=True)

        async def close(self) -> None:
            return None

    settings = RelaySettings(max_attempts=1, outage_backoff=NO_PAUSE)
    relay = Relay(outbox_db.store, Down(), settings=settings)
    await rounds(relay, 3)

    status = await outbox_db.store.status()
    assert (status.pending, status.retrying, status.dead) == (2, 2, 0)
    assert [r for r in caplog.records if r.exc_info] == []
