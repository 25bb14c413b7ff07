"""G-1: keys that fail never starve healthy keys, even when they own the oldest events.

The hazard: each batch is "the globally oldest N items"; once the oldest N
all belong to failing entities, they are fetched again every cycle and healthy
entities are never fetched (and with no attempt counter, forever). Here a key
whose head waits for a retry, or is parked, is skipped inside the claim, so a
batch always fills with what can move; attempts are counted and end in a
dead letter.
"""

from __future__ import annotations

import pytest

from relaybox.core.backoff import FixedBackoff
from relaybox.core.errors import PermanentError, TemporaryError
from relaybox.core.events import Event, Message
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.testing.publisher import MemoryPublisher

BLOCKED = [f"blocked-{i}" for i in range(4)]


def keys(publisher: MemoryPublisher) -> set[str | None]:
    return {m.key for m in publisher.published}


@pytest.mark.parametrize(
    "error", [TemporaryError("down"), PermanentError("bad")], ids=["retrying", "parked"]
)
async def test_g01_healthy_keys_flow_behind_a_wall_of_blocked_ones(
    outbox_db, error: Exception
) -> None:
    # The oldest events, many batches' worth, all belong to keys that will block.
    for key in BLOCKED:
        await outbox_db.write(*(Event("orders", {"n": n}, key=key) for n in range(10)))
    await outbox_db.write(*(Event("orders", {"n": n}, key="healthy") for n in range(3)))
    await outbox_db.write(Event("audit", {"n": 0}))

    def fail(message: Message) -> BaseException | None:
        return error if message.key in BLOCKED else None

    publisher = MemoryPublisher(fail)
    settings = RelaySettings(batch_size=4, backoff=FixedBackoff(3600.0))
    relay = Relay(outbox_db.store, publisher, settings=settings)

    await relay.drain(max_polls=20)

    assert keys(publisher) == {"healthy", None}
    assert [m.json()["n"] for m in publisher.published if m.key == "healthy"] == [0, 1, 2]  # type: ignore[index]
    status = await outbox_db.store.status()
    assert status.pending == 4 * 10 - (4 if isinstance(error, PermanentError) else 0)


async def test_g01_a_poison_head_ends_as_a_dead_letter_instead_of_blocking_forever(
    outbox_db,
) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}, key="a") for n in range(3)))
    publisher = MemoryPublisher(lambda m: TemporaryError("down") if m.json() == {"n": 0} else None)
    settings = RelaySettings(max_attempts=3, backoff=FixedBackoff(0.0), on_key_failure="continue")
    relay = Relay(outbox_db.store, publisher, settings=settings)

    await relay.drain()

    assert [m.json()["n"] for m in publisher.published] == [1, 2]  # type: ignore[index]
    assert (await outbox_db.store.status()).dead == 1
