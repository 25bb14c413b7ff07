from __future__ import annotations

import pytest

from relaybox.core.errors import DeadLetterNotFoundError, TemporaryError
from relaybox.pipeline.middleware.dead_letter import (
    DeadLetterQueueFullError,
    InMemoryDeadLetterQueue,
)
from relaybox.ports.dead_letters import DeadLetter


def letter(id: str) -> DeadLetter[str]:
    return DeadLetter(id, id, TemporaryError(), 1, 0.0, 0.0)


async def test_c08_full_queue_refuses_instead_of_losing_letters() -> None:
    """A full in-memory dead-letter queue refuses new letters by default and keeps every
    stored one."""
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue(1)
    await queue.put(letter("a"))
    with pytest.raises(DeadLetterQueueFullError):
        await queue.put(letter("b"))
    assert [entry.id for entry in await queue.all()] == ["a"]


async def test_c08_drop_oldest_is_counted() -> None:
    """Evicting the oldest letter is an explicit choice and every eviction is counted."""
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue(1, overflow="drop_oldest")
    await queue.put(letter("a"))
    await queue.put(letter("b"))
    assert queue.dropped == 1
    assert [entry.id for entry in await queue.all()] == ["b"]


async def test_c08_remove_by_id_removes_that_letter() -> None:
    """Removing a letter by id removes exactly that letter, not the head of the queue."""
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    for name in "abc":
        await queue.put(letter(name))
    assert (await queue.remove("b")).id == "b"
    assert [entry.id for entry in await queue.all()] == ["a", "c"]
    with pytest.raises(DeadLetterNotFoundError):
        await queue.remove("missing")
