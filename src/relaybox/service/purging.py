"""What a replay or purge of dead letters will touch, worked out before it runs.

Operators confirm a purge knowing how many letters go, and no purge leaves a
key parked on an event that no longer exists: a key parked by a purged letter
is unparked with it, or the purge is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from relaybox.core.errors import DeadLetterNotFoundError
from relaybox.ports.store import DeadFilter, OutboxAdmin


@dataclass(frozen=True, slots=True)
class PurgePlan:
    """``count`` letters match; ``parked_keys`` are parked on one of them."""

    count: int
    parked_keys: tuple[str, ...]


async def plan_purge(store: OutboxAdmin, where: DeadFilter) -> PurgePlan:
    """How many dead letters ``where`` matches, and the keys parked on them."""
    status = await store.status()
    if status.dead == 0:
        return PurgePlan(0, ())
    letters = await store.dead_letters(where, status.dead)
    ids = {letter.id for letter in letters}
    parked = await store.parked(status.parked_keys) if status.parked_keys else []
    keys = tuple(sorted(p.key for p in parked if p.event_id in ids))
    return PurgePlan(len(letters), keys)


async def unpark_all(store: OutboxAdmin, keys: tuple[str, ...]) -> int:
    """Unpark ``keys``; returns how many were still parked."""
    return sum([await store.unpark(key) for key in keys])


async def require_dead(store: OutboxAdmin, ids: list[str]) -> None:
    """Raise :class:`DeadLetterNotFoundError` naming every id with no dead letter."""
    found = {letter.id for letter in await store.dead_letters(DeadFilter(ids=ids), len(ids))}
    missing = [event_id for event_id in ids if event_id not in found]
    if missing:
        listed = ", ".join(missing)
        raise DeadLetterNotFoundError(
            f"no dead letter with id {listed}"
            if len(missing) == 1
            else f"no dead letters with ids {listed}"
        )


def letters(count: int) -> str:
    """``1 dead letter``, ``3 dead letters``."""
    return f"{count} dead letter" if count == 1 else f"{count} dead letters"
