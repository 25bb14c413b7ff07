"""The outbox store as the relay and operators see it.

The store is deliberately dumb: it claims, records what the relay decided and
answers questions. Every decision (retry or dead-letter, how long to wait,
whether a key parks) is made by the relay, so each database adapter holds SQL
and nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from relaybox.core.events import Message


@dataclass(frozen=True, slots=True)
class Claim:
    """Messages leased to one relay: nobody else may publish them until settled or expired.

    ``token`` is the fencing token: a settle carrying an older token is refused.
    ``lanes`` are every lane leased by this claim (released again by settle).
    ``messages`` hold each lane's events in its order; lanes may interleave.
    ``reclaimed`` counts messages whose previous lease had expired unsettled;
    that interrupted delivery was counted as a failed attempt.
    """

    owner: str
    token: int
    lanes: tuple[str, ...]
    messages: tuple[Message, ...]
    reclaimed: int = 0


@dataclass(frozen=True, slots=True)
class Retry:
    """Try ``message`` again after ``delay`` seconds on the database clock.

    ``counted`` is false when the destination was unavailable: the failure is
    recorded (its first time too) but uses up none of the event's attempts.
    """

    message: Message
    delay: float
    error: str
    counted: bool = True


@dataclass(frozen=True, slots=True)
class Dead:
    """Move ``message`` to the dead letters with its error and final attempt count."""

    message: Message
    error: str
    error_type: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the relay decided for a claim. Messages in no list are released untouched.

    * ``hold`` - keyed lanes to keep closed for that many seconds (their head waits
      for a retry, and nothing behind it may overtake it).
    * ``park`` - keyed lanes to park until an operator unparks them, with the
      dead event's id and the reason.
    """

    delivered: Sequence[Message] = ()
    retry: Sequence[Retry] = ()
    dead: Sequence[Dead] = ()
    hold: Mapping[str, float] = field(default_factory=dict)
    park: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def decided(self) -> tuple[Message, ...]:
        """Every message this settlement records something for (what a lost lease loses)."""
        return (
            *self.delivered,
            *(r.message for r in self.retry),
            *(d.message for d in self.dead),
        )


@dataclass(frozen=True, slots=True)
class SettleReport:
    """``lost`` lists messages whose lease had expired or was taken: nothing was recorded."""

    settled: int
    lost: tuple[Message, ...] = ()


class OutboxStore(Protocol):
    """Claims and settles outbox events for a relay.

    Contract:

    * ``claim`` leases whole lanes (a key, or one of the unkeyed lanes) for
      ``lease`` seconds and returns at most ``limit`` of their due messages,
      each lane's in order. A keyed lane that is leased, parked or held shut
      is skipped, so keys never run in two relays at once and one stuck key
      stops only itself.
    * ``settle`` applies the settlement in one transaction, only for lanes whose
      lease is still this claim's (same token, not expired), then releases them.
    * ``extend`` renews the claim's lease; ``False`` when it was already lost.
    * Timestamps are computed on the database's clock.
    """

    async def claim(self, owner: str, limit: int, lease: float, /) -> Claim: ...

    async def settle(self, claim: Claim, settlement: Settlement, /) -> SettleReport: ...

    async def extend(self, claim: Claim, lease: float, /) -> bool: ...

    async def cleanup(self, dead_retention: float, batch_size: int, /) -> int: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Status:
    """The outbox at a glance; ages are seconds on the database clock."""

    pending: int
    in_flight: int
    retrying: int
    dead: int
    parked_keys: int
    oldest_pending_age: float | None


@dataclass(frozen=True, slots=True)
class DeadEvent:
    """A dead letter: the event, its error, attempts and timestamps."""

    row_id: int
    id: str
    topic: str
    key: str | None
    seq: int | None
    type: str
    aggregate_type: str
    content_type: str
    payload: bytes
    headers: Mapping[str, str]
    created_at: datetime
    attempts: int
    first_failed_at: datetime | None
    last_failed_at: datetime | None
    error: str
    error_type: str
    dead_at: datetime


@dataclass(frozen=True, slots=True)
class ParkedKey:
    """A key stopped behind a dead event until an operator unparks it."""

    key: str
    parked_at: datetime
    event_id: str | None
    reason: str | None
    pending: int


@dataclass(frozen=True, slots=True)
class DeadFilter:
    """Which dead letters an operation touches: all of them unless narrowed."""

    ids: Sequence[str] | None = None
    topic: str | None = None
    key: str | None = None
    older_than: float | None = None


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Which schema version a database has, and which this relaybox needs."""

    current: int
    latest: int

    @property
    def ready(self) -> bool:
        return self.current == self.latest


class OutboxAdmin(Protocol):
    """What operators do: look, replay, purge, unpark, migrate.

    ``replay`` puts dead letters back in the outbox keeping each key's order: a
    parked key's dead event goes back in front of the events it held back, and
    the key is unparked; other dead events of a key rejoin at its tail in their
    original order. Both return how many events they touched.
    """

    async def status(self) -> Status: ...

    async def pending_topics(self) -> list[str]:
        """The distinct topics of the events still in the outbox (checked at relay start)."""
        ...

    async def dead_letters(self, where: DeadFilter, limit: int, /) -> list[DeadEvent]: ...

    async def replay(self, where: DeadFilter, limit: int | None, /) -> int: ...

    async def purge(self, where: DeadFilter, limit: int | None, /) -> int: ...

    async def parked(self, limit: int, /) -> list[ParkedKey]: ...

    async def unpark(self, key: str, /) -> bool: ...

    async def migrate(self) -> list[int]: ...

    async def schema(self) -> SchemaState: ...


@runtime_checkable
class Wakeups(Protocol):
    """A store that can tell a relay when new events were committed elsewhere.

    ``subscribe(wake)`` calls ``wake()`` (on the event loop) for each hint and
    returns the coroutine function that ends the subscription. Hints are an
    optimisation: a relay that misses one still finds the events by polling.
    """

    async def subscribe(self, wake: Callable[[], None], /) -> Callable[[], Awaitable[None]]: ...


@runtime_checkable
class SchemaCheck(Protocol):
    """A store that can tell whether its schema is in place (see :class:`OutboxAdmin`)."""

    async def schema(self) -> SchemaState: ...
