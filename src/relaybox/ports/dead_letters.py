"""Where records that will never succeed are kept for people to inspect."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from relaybox.core.outcome import Failure

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DeadLetter(Generic[T]):
    """A record given up on, with why and when.

    ``first_failed_at`` and ``last_failed_at`` are epoch seconds; ``attempts`` is
    the true number of tries.
    """

    id: str
    record: T
    error: BaseException
    attempts: int
    first_failed_at: float
    last_failed_at: float
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        failure: Failure[T],
        *,
        id: str | None = None,
        now: float,
        metadata: Mapping[str, Any] | None = None,
    ) -> DeadLetter[T]:
        """The dead letter for ``failure``, keeping its error, attempts and failure times."""
        return cls(
            id=id or uuid.uuid4().hex,
            record=failure.record,
            error=failure.error,
            attempts=failure.attempts,
            first_failed_at=failure.first_failed_at or now,
            last_failed_at=failure.last_failed_at or now,
            metadata=dict(metadata or {}),
        )


class DeadLetterQueue(Protocol[T]):
    """Stores dead letters.

    Contract: ``put`` returns only once the letter is stored (raise otherwise,
    and the record stays failed); ``peek`` returns the oldest letters first
    without removing them; ``remove`` deletes by id and raises
    :class:`~relaybox.core.errors.DeadLetterNotFoundError` for an unknown id.
    """

    async def put(self, letter: DeadLetter[T], /) -> None: ...

    async def peek(self, limit: int | None = None, /) -> Sequence[DeadLetter[T]]: ...

    async def remove(self, letter_id: str, /) -> DeadLetter[T]: ...

    async def count(self) -> int: ...
