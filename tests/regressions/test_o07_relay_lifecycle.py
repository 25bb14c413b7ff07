"""O-7: start and stop are idempotent and restartable; bad intervals fail at construction.

The hazard: a second stop crashes, a stopped dispatcher cannot start again,
and a zero or negative interval is accepted only to blow up (or spin) later.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from relaybox.core.errors import ConfigurationError, CoordinatorRunningError
from relaybox.core.events import Event
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.testing import wait_until
from relaybox.testing.publisher import MemoryPublisher


async def test_o07_stop_is_idempotent_and_a_stopped_relay_runs_again(outbox_db) -> None:
    publisher = MemoryPublisher()
    relay = Relay(outbox_db.store, publisher, settings=RelaySettings(poll_max=0.02))
    await relay.stop()  # never started: nothing to do

    for round_ in range(2):
        await outbox_db.write(Event("orders", {"round": round_}))
        running = asyncio.create_task(relay.run())
        await wait_until(lambda r=round_: len(publisher.published) == r + 1, what="a delivery")
        with pytest.raises(CoordinatorRunningError):
            await relay.run()
        await asyncio.gather(relay.stop(), relay.stop())
        await relay.stop()
        await running
        assert not relay.running

    assert [m.json() for m in publisher.published] == [{"round": 0}, {"round": 1}]


INVALID = [
    {"lease": 0},
    {"lease": -1.0},
    {"lease": math.nan},
    {"lease": math.inf},
    {"cleanup_interval": 0},
    {"cleanup_interval": -60.0},
    {"cleanup_interval": math.nan},
    {"dead_retention": 0},
    {"dead_retention": -1.0},
    {"dead_retention": math.inf},
    {"poll_min": 0},
    {"poll_min": 0.5, "poll_max": 0.1},
    {"grace": -1.0},
    {"grace": math.nan},
    {"batch_size": 0},
    {"cleanup_batch": 0},
    {"max_attempts": 0},
    {"on_key_failure": "skip"},
]


@pytest.mark.parametrize(
    "options", INVALID, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
def test_o07_an_invalid_setting_is_refused_when_the_relay_is_built(
    options: dict[str, object],
) -> None:
    """Lease and retention go into the database's timestamp arithmetic: they must be finite."""
    with pytest.raises(ConfigurationError):
        Relay(NoStore(), MemoryPublisher(), settings=RelaySettings(**options))  # type: ignore[arg-type]


class NoStore:
    """Building a relay touches no store."""
