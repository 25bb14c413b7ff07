"""Dead letters: records that will not succeed are stored for people, then settled.

Choices:

* Only real failures are stored. A record handed back unattempted (any
  :class:`~relaybox.core.errors.ReleasedError`, including a stop during a retry
  wait) stays failed, so its source offers it again; it is never stored.
* A stored record moves to ``dead`` with its original failure, so the source
  settles it as done and never fetches it again; the letter keeps the real
  error, the true attempt count and the first/last failure times.
* When storing fails the record stays failed with a
  :class:`~relaybox.core.errors.DeadLetterError` caused by the store's error, so
  both errors surface and nothing is settled that was not stored.
* The in-memory queue is bounded; when full it refuses (the default, so nothing
  is lost) or evicts the oldest letter and counts it - never silently.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from itertools import islice
from typing import Any, Generic, Literal, TypeVar

from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import (
    ConfigurationError,
    DeadLetterError,
    DeadLetterNotFoundError,
    RelayboxError,
    is_permanent,
    is_released,
)
from relaybox.core.outcome import Failure, Outcome
from relaybox.ports.applier import Applier, Middleware, attempt
from relaybox.ports.dead_letters import DeadLetter, DeadLetterQueue

T = TypeVar("T")

Overflow = Literal["reject", "drop_oldest"]
Metadata = Mapping[str, Any] | Callable[[Failure[Any]], Mapping[str, Any]]

logger = logging.getLogger("relaybox.dead_letters")


class DeadLetterQueueFullError(RelayboxError):
    """The dead-letter queue is full; the record stays failed."""


class InMemoryDeadLetterQueue(Generic[T]):
    """A FIFO :class:`~relaybox.ports.DeadLetterQueue` held in memory.

    ``capacity`` (default 10 000; ``None`` for no limit) bounds it. When full,
    ``overflow="reject"`` (default) raises :class:`DeadLetterQueueFullError`, so
    the record stays failed; ``"drop_oldest"`` evicts the oldest letter, logs a
    warning and counts it in :attr:`dropped`.
    """

    def __init__(self, capacity: int | None = 10_000, *, overflow: Overflow = "reject") -> None:
        if capacity is not None and capacity < 1:
            raise ConfigurationError("capacity must be at least 1, or None for no limit")
        if overflow not in ("reject", "drop_oldest"):
            raise ConfigurationError('overflow must be "reject" or "drop_oldest"')
        self.capacity = capacity
        self.overflow: Overflow = overflow
        self._letters: deque[DeadLetter[T]] = deque()
        self._dropped = 0

    @property
    def dropped(self) -> int:
        """How many letters were evicted to make room (``drop_oldest`` only)."""
        return self._dropped

    async def put(self, letter: DeadLetter[T], /) -> None:
        if self.capacity is not None and len(self._letters) >= self.capacity:
            self._make_room()
        self._letters.append(letter)

    def _make_room(self) -> None:
        if self.overflow == "reject":
            raise DeadLetterQueueFullError(
                f"dead-letter queue is full ({self.capacity} letters); remove letters "
                'or raise its capacity, or use overflow="drop_oldest"'
            )
        evicted = self._letters.popleft()
        self._dropped += 1
        logger.warning(
            "dead-letter queue full: dropped the oldest letter %s (%d dropped so far)",
            evicted.id,
            self._dropped,
        )

    async def peek(self, limit: int | None = None, /) -> Sequence[DeadLetter[T]]:
        """The oldest ``limit`` letters (all when ``None``), oldest first, not removed."""
        if limit is not None and limit < 0:
            raise ValueError("limit must be zero or more, or None for all")
        return list(islice(self._letters, limit))

    async def remove(self, letter_id: str, /) -> DeadLetter[T]:
        """Remove and return the oldest letter with exactly ``letter_id``."""
        for index, letter in enumerate(self._letters):
            if letter.id == letter_id:
                del self._letters[index]
                return letter
        raise DeadLetterNotFoundError(f"no dead letter with id {letter_id!r}")

    async def pop_oldest(self) -> DeadLetter[T]:
        """Remove and return the oldest letter; raises ``DeadLetterNotFoundError`` if empty."""
        if not self._letters:
            raise DeadLetterNotFoundError("the dead-letter queue is empty")
        return self._letters.popleft()

    async def count(self) -> int:
        return len(self._letters)

    async def all(self) -> list[DeadLetter[T]]:
        """Every letter, oldest first (a copy)."""
        return list(self._letters)

    async def clear(self) -> int:
        """Remove every letter; return how many there were."""
        removed = len(self._letters)
        self._letters.clear()
        return removed

    def __repr__(self) -> str:
        return (
            f"InMemoryDeadLetterQueue(count={len(self._letters)}, capacity={self.capacity}, "
            f"overflow={self.overflow!r}, dropped={self._dropped})"
        )


class DeadLetteringApplier(Generic[T]):
    """Stores the real failures of ``inner`` in ``queue`` and reports them ``dead``.

    ``identify(record)`` names the letter (default: a random id); ``metadata`` is
    a mapping, or a function of the failure returning one, stored on each letter.
    A fatal ``error`` stays on the outcome, and the records it failed stay
    failed unless the error is permanent: a lost connection or a crashed call
    says nothing about the records, so the source offers them again (after the
    coordinator's error backoff) instead of a whole batch being dead-lettered by
    one outage.
    """

    def __init__(
        self,
        inner: Applier[T],
        queue: DeadLetterQueue[T],
        *,
        clock: Clock = SYSTEM_CLOCK,
        identify: Callable[[T], str] | None = None,
        metadata: Metadata | None = None,
    ) -> None:
        self.queue = queue
        self.stored = 0
        """How many letters this applier has stored (live counter)."""
        self._inner = inner
        self._clock = clock
        self._identify = identify
        self._metadata = metadata

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        outcome = await attempt(self._inner, records)
        if outcome.error is None and not outcome.failed and outcome.count == len(records):
            return outcome
        outcome = outcome.reconcile(records)
        failed: list[Failure[T]] = []
        dead = list(outcome.dead)
        for failure in outcome.failed:
            if is_released(failure.error) or _fatal_only(failure, outcome.error):
                failed.append(failure)
            elif (stuck := await self._store(failure)) is None:
                dead.append(failure)
            else:
                failed.append(stuck)
        return Outcome(outcome.delivered, failed, dead, outcome.error)

    async def _store(self, failure: Failure[T]) -> Failure[T] | None:
        """Store ``failure``; None when stored, else the failure to report instead."""
        try:
            letter = DeadLetter.of(
                failure,
                id=self._identify(failure.record) if self._identify else None,
                now=self._clock.now(),
                metadata=self._metadata(failure) if callable(self._metadata) else self._metadata,
            )
            await self.queue.put(letter)
        except Exception as exc:  # the record stays failed and both errors surface
            error = DeadLetterError(failure.error)
            error.__cause__ = exc
            return Failure(
                failure.record,
                error,
                failure.attempts,
                failure.first_failed_at,
                failure.last_failed_at,
            )
        self.stored += 1
        return None

    def __repr__(self) -> str:
        return f"DeadLetteringApplier({self._inner!r}, {self.queue!r}, stored={self.stored})"


def _fatal_only(failure: Failure[T], fatal: BaseException | None) -> bool:
    """True when the record failed only because the whole call did, for a passing reason."""
    crashed = failure.fatal or failure.error is fatal
    return crashed and not is_permanent(failure.error)


def dead_letter(
    queue: DeadLetterQueue[T],
    *,
    clock: Clock = SYSTEM_CLOCK,
    identify: Callable[[T], str] | None = None,
    metadata: Metadata | None = None,
) -> Middleware[T]:
    """Middleware storing failed records in ``queue``; see :class:`DeadLetteringApplier`."""

    def wrap(inner: Applier[T]) -> Applier[T]:
        return DeadLetteringApplier(inner, queue, clock=clock, identify=identify, metadata=metadata)

    return wrap
