"""Where records come from: polled batches or pushed streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, TypeVar

from relaybox.core.outcome import Outcome

T = TypeVar("T")


class BatchSource(Protocol[T]):
    """A source that is polled for batches.

    Contract:

    * ``fetch(limit)`` returns at most ``limit`` records that are not yet done;
      an empty sequence means there is nothing to do right now.
    * ``settle(outcome)`` receives a reconciled outcome covering exactly the
      fetched records: it records ``delivered`` and ``dead`` records as done
      (they must never be fetched again) and may record ``failed`` ones with
      their error and attempt count for a later retry. It may be called after a
      stop was requested and must finish its work then.
    """

    async def fetch(self, limit: int, /) -> Sequence[T]: ...

    async def settle(self, outcome: Outcome[T], /) -> None: ...


class StreamSource(Protocol[T]):
    """A source that pushes records, such as a broker subscription.

    Contract:

    * ``records()`` yields records as they arrive and ends when the source is
      exhausted or closed.
    * ``ack(record)`` says the record is done (delivered or dead-lettered).
    * ``nack(record, error)`` says it failed with ``error``; the source decides
      whether and when to offer it again.
    * ``close()`` releases resources; it is called once by the coordinator on
      stop and must be safe to call again.
    """

    def records(self) -> AsyncIterator[T]: ...

    async def ack(self, record: T, /) -> None: ...

    async def nack(self, record: T, error: BaseException, /) -> None: ...

    async def close(self) -> None: ...
