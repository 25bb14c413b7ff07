"""O-6: retry times and lease expiries are computed on the database's clock.

The hazard: the next attempt is computed on the application's clock and
compared with the database's ``NOW()``, so clock skew between hosts (or a
timezone mix-up) makes retries early, late or never. Here the relay sends
delays, the database adds them to its own ``now()``; a relay whose clock is
years off schedules exactly the same.
"""

from __future__ import annotations

import pytest

from relaybox.core.backoff import FixedBackoff
from relaybox.core.errors import TemporaryError
from relaybox.core.events import Event
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.ports.store import Settlement
from relaybox.testing import FakeClock
from relaybox.testing.publisher import MemoryPublisher

YEAR = 365 * 24 * 3600.0


def seconds_until(outbox_db, column: str, table: str = "{events}") -> str:  # type: ignore[no-untyped-def]
    """SQL for how far ``column`` lies ahead of the database's own clock, in seconds."""
    if outbox_db.dialect == "postgresql":
        return f"SELECT extract(epoch FROM max({column}) - now()) FROM {table}"
    return f"SELECT max({column}) - (julianday('now') - 2440587.5) * 86400.0 FROM {table}"


async def test_o06_a_relay_with_a_wrong_clock_schedules_retries_on_the_database_clock(
    outbox_db,
) -> None:
    await outbox_db.write(Event("orders", key="a"))
    skewed = FakeClock(start=0.0)  # the relay's host believes it is 1970
    publisher = MemoryPublisher(lambda m: TemporaryError("busy"))
    settings = RelaySettings(backoff=FixedBackoff(600.0), lease=45.0)
    relay = Relay(outbox_db.store, publisher, settings=settings, clock=skewed)

    # A lease is the database's now() plus its length, whatever the relay's clock says.
    claim = await outbox_db.store.claim(relay.owner, 1, settings.lease)
    lease_left = await outbox_db.scalar(seconds_until(outbox_db, "expires_at", "{claims}"))
    assert 40.0 < float(lease_left) <= 45.0
    await outbox_db.store.settle(claim, Settlement())  # hand it back untouched

    await relay.relay_batch()

    retry_in = float(await outbox_db.scalar(seconds_until(outbox_db, "available_at")))
    assert 590.0 < retry_in <= 600.0


@pytest.mark.parametrize("hint", [float("inf"), 1e300])
async def test_o06_an_absurd_retry_after_hint_is_capped_and_settles(outbox_db, hint: float) -> None:
    """A publisher may pass on whatever a broker's Retry-After said; the wait stays bounded."""
    await outbox_db.write(Event("orders", key="a"), Event("orders", key="b"))
    publisher = MemoryPublisher(
        lambda m: TemporaryError("slow down", retry_after=hint) if m.key == "a" else None
    )
    relay = Relay(outbox_db.store, publisher)

    result = await relay.relay_batch()

    assert result.error is None
    assert (relay.stats.delivered, relay.stats.retried) == (1, 1)
    retry_in = float(await outbox_db.scalar(seconds_until(outbox_db, "available_at")))
    assert 0 < retry_in <= YEAR
