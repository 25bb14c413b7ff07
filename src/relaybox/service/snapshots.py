"""The outbox at a glance for ``relaybox status``: counts, failing events, topics."""

from __future__ import annotations

from dataclasses import dataclass

from relaybox.ports.insight import FailingEvent, OutboxInsight, TopicCounts
from relaybox.ports.store import OutboxAdmin, Status

FAILING_SHOWN = 10
"""Failing events listed; the count of all of them is in ``Status.retrying``."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One look at the outbox; ``failing`` and ``topics`` are empty for stores without them."""

    status: Status
    failing: tuple[FailingEvent, ...]
    topics: tuple[TopicCounts, ...]


async def snapshot(store: OutboxAdmin, *, failing: int = FAILING_SHOWN) -> Snapshot:
    """Counts, the next ``failing`` events to be retried, and counts per topic."""
    status = await store.status()
    if not isinstance(store, OutboxInsight):
        return Snapshot(status, (), ())
    return Snapshot(status, tuple(await store.failing(failing)), tuple(await store.topics()))
