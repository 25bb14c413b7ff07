"""O-8: relay statistics count events, not batches, and nothing accumulates by mistake.

The hazard: "gauges" that are counters (a batch size that only grows) and
counters that count batches where events were meant.
"""

from __future__ import annotations

from relaybox.core.backoff import FixedBackoff
from relaybox.core.errors import PermanentError, TemporaryError
from relaybox.core.events import Event, Message
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.pipeline.events import APPLIED
from relaybox.testing import RecordingObserver
from relaybox.testing.publisher import MemoryPublisher


def verdict(message: Message) -> BaseException | None:
    topic = message.topic
    return {"dies": PermanentError("no"), "waits": TemporaryError("later")}.get(topic)


async def test_o08_every_total_counts_events_across_batches(outbox_db) -> None:
    await outbox_db.write(
        *(Event("ok") for _ in range(9)), *(Event("dies") for _ in range(3)), Event("waits")
    )
    observer = RecordingObserver()
    settings = RelaySettings(batch_size=4, backoff=FixedBackoff(3600.0))
    relay = Relay(outbox_db.store, MemoryPublisher(verdict), settings=settings, observer=observer)

    await relay.drain()

    stats = relay.stats
    assert (stats.claimed, stats.delivered, stats.dead, stats.retried) == (13, 9, 3, 1)
    assert (stats.released, stats.lost, stats.parked) == (0, 0, 0)
    applied = observer.named(APPLIED)  # one per batch, each with its own counts
    assert len(applied) >= 4
    assert all(1 <= e.count <= 4 for e in applied)
    assert sum(e.count for e in applied) == 13
    assert sum(e.delivered for e in applied) == 9
