"""G-7: an idle poll is reported as an empty poll, never as a delivered batch, and quietly.

The hazards: idle polls recorded as "successful batches" (which skews every
batch metric), an idle message at INFO once per cycle, and a missing logger
that crashes. Here an empty poll emits ``records.fetched`` and
``poll.completed`` with a count of 0 and nothing else, logs at DEBUG only, and
a relay needs no observer at all.
"""

from __future__ import annotations

import logging

import pytest

from relaybox.core.events import Event
from relaybox.outbox.relay import Relay
from relaybox.pipeline.events import APPLIED, FETCHED, POLL_COMPLETED, SETTLED, LoggingObserver
from relaybox.testing import RecordingObserver
from relaybox.testing.publisher import MemoryPublisher


async def test_g07_an_empty_poll_reports_nothing_applied(outbox_db) -> None:
    observer = RecordingObserver()
    publisher = MemoryPublisher()
    relay = Relay(outbox_db.store, publisher, observer=observer)

    for _ in range(3):
        await relay.relay_batch()

    assert set(observer.names()) == {FETCHED, POLL_COMPLETED}
    assert [e.count for e in observer.named(POLL_COMPLETED)] == [0, 0, 0]
    assert publisher.calls == 0
    assert relay.stats.delivered == relay.stats.claimed == 0


async def test_g07_a_poll_with_work_is_told_apart_from_an_idle_one(outbox_db) -> None:
    await outbox_db.write(Event("orders"), Event("orders"))
    observer = RecordingObserver()
    relay = Relay(outbox_db.store, MemoryPublisher(), observer=observer)

    await relay.drain()

    [applied] = observer.named(APPLIED)
    assert (applied.count, applied.delivered) == (2, 2)
    assert len(observer.named(SETTLED)) == 1
    assert [e.count for e in observer.named(POLL_COMPLETED)] == [2, 0]


async def test_g07_idle_polls_log_nothing_at_info(
    outbox_db, caplog: pytest.LogCaptureFixture
) -> None:
    relay = Relay(outbox_db.store, MemoryPublisher(), observer=LoggingObserver())

    with caplog.at_level(logging.INFO):
        for _ in range(3):
            await relay.relay_batch()

    assert caplog.records == []
