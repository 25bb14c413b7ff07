"""What operators see beyond the counts: the events failing now, and the outbox per topic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class FailingEvent:
    """A pending event that failed at least once: its last error and when it is tried next.

    ``next_try`` is ``None`` when it is due now (or waits only on a parked key).
    """

    id: str
    topic: str
    key: str | None
    attempts: int
    next_try: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class TopicCounts:
    """Events of one topic: ``pending`` (``retrying`` of them have failed before), ``dead``."""

    topic: str
    pending: int
    retrying: int
    dead: int


@runtime_checkable
class OutboxInsight(Protocol):
    """Read-only views for ``relaybox status``; a store may offer them."""

    async def failing(self, limit: int, /) -> list[FailingEvent]:
        """Failing events, the next to be tried first, at most ``limit``."""
        ...

    async def topics(self) -> list[TopicCounts]:
        """Counts per topic, pending or dead, by topic name."""
        ...
