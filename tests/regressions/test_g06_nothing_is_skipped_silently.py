"""G-6: no claimed event is skipped silently; each one ends delivered, retried or dead.

The hazard: a worker cancelled while waiting for a slot returned without
reporting an error, so its items counted as neither sent nor failed. Here the
relay reconciles every outcome with the claim: a message the publisher left
out (or replaced by a look-alike) fails and is retried with the reason
recorded; a stop releases the messages not yet sent, accounted for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from relaybox.core.errors import ShutdownReleasedError
from relaybox.core.events import Event, Message
from relaybox.core.outcome import Outcome
from relaybox.core.stopping import stop_signal
from relaybox.outbox.publishers import publish_in_key_order
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.testing.messages import message as make_message


class ForgetfulPublisher:
    """Reports only the first message delivered; the others come back as copies or not at all."""

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        first, *rest = messages
        return Outcome(delivered=(first, *(replace(m) for m in rest[:1])))

    async def close(self) -> None:
        return None


async def test_g06_messages_missing_from_the_outcome_are_retried_not_dropped(outbox_db) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}) for n in range(4)))
    relay = Relay(outbox_db.store, ForgetfulPublisher(), settings=RelaySettings(batch_size=4))

    await relay.relay_batch()

    assert relay.stats.delivered == 1
    assert relay.stats.claimed == relay.stats.delivered + relay.stats.retried
    assert await outbox_db.scalar("SELECT count(*) FROM {events} WHERE attempts = 1") == 3
    reason = await outbox_db.scalar("SELECT max(last_error) FROM {events}")
    assert str(reason).startswith("MissingOutcomeError")


def message(n: int, key: str | None) -> Message:
    return make_message(n, key=key, seq=n, lane=f"k:{key}")


async def test_g06_a_stop_accounts_for_every_message_not_yet_sent() -> None:
    messages = [message(n, key) for n, key in enumerate("aabbccdd")]
    stop = asyncio.Event()
    sent: list[Message] = []

    async def send(m: Message) -> None:
        sent.append(m)
        if len(sent) == 3:
            stop.set()
        await asyncio.sleep(0)

    with stop_signal(stop):
        outcome = await publish_in_key_order(messages, send, max_concurrent_keys=2)

    assert outcome.count == len(messages)
    assert set(outcome.delivered) == set(sent)
    released = [f for f in outcome.failed if isinstance(f.error, ShutdownReleasedError)]
    assert len(released) == len(messages) - len(sent) > 0
