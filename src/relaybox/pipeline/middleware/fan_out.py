"""Fan-out: deliver every record to every destination, and remember partial success.

A record is delivered only once every destination has it. When some
destinations fail, the record fails with :class:`~relaybox.core.errors.FanOutError`
(one error per failing destination) and the fan-out remembers which destinations
already have it, so the next apply of that record (a retry, or the source
offering it again) goes only to the destinations still missing it.

Choices:

* Success is tracked per (record, destination), by identity within a call.
  Across calls a record is recognised by identity (the memory entry keeps a
  reference, so its ``id`` cannot be reused by another object) or, with
  ``key``, by ``key(record)``, which survives the source fetching a new copy.
* Destinations run concurrently by default; ``concurrent=False`` runs them in
  the given order and, once the pipeline is stopping, releases the records of
  destinations not yet called with
  :class:`~relaybox.core.errors.ShutdownReleasedError`.
* A destination that dead-letters a record has finished with it. The record is
  dead (with that error) once every other destination is done too.
* A destination that raises or reports a fatal error fails its records for that
  destination only; the fan-out's own outcome never carries a fatal error.
* The failure's error keeps retry and dead letters honest: when every failing
  destination released the record it is that release error (not an attempt);
  when every one failed permanently it is :class:`PermanentFanOutError`.
* Memory is bounded (LRU, ``memory`` entries) and an entry goes as soon as its
  record completes. An evicted record is sent to every destination again:
  at-least-once, never lost. Concurrent applies of one record may both send it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from relaybox.core.calls import per_record
from relaybox.core.errors import (
    ConfigurationError,
    FanOutError,
    PermanentError,
    is_permanent,
    is_released,
)
from relaybox.core.outcome import Failure, Outcome
from relaybox.core.stopping import stop_requested
from relaybox.ports.applier import Applier, attempt

T = TypeVar("T")

KeyFn = Callable[[T], Hashable] | Callable[[T], Awaitable[Hashable]]


class PermanentFanOutError(FanOutError, PermanentError):
    """Every destination still missing the record failed permanently."""


@dataclasses.dataclass(slots=True)
class _Progress(Generic[T]):
    """What one remembered record has reached; ``record`` pins its identity."""

    record: T
    done: frozenset[str]
    dead: dict[str, Failure[T]]


_Planned = tuple[T, Hashable, _Progress[T] | None]
"""A record of this call, its memory key, and what it reached before."""

_Verdicts = dict[int, tuple[bool, Failure[T]]]
"""Per destination: ``id(record) -> (dead?, failure)`` for records it did not deliver."""


class FanOut(Generic[T]):
    """Applies each record to every destination; see :func:`fan_out`."""

    def __init__(
        self,
        destinations: Mapping[str, Applier[T]] | Sequence[Applier[T]],
        *,
        key: KeyFn[T] | None = None,
        memory: int = 100_000,
        concurrent: bool = True,
    ) -> None:
        self._destinations = _named(destinations)
        self._key: Callable[[T], Awaitable[Any]] | None = None if key is None else per_record(key)
        self._memory = _checked_memory(memory)
        self._concurrent = concurrent
        self._progress: OrderedDict[Hashable, _Progress[T]] = OrderedDict()

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        if not records:
            return Outcome()
        if not self._progress and self._key is None:
            # Hot path: nothing remembered, so every destination takes the whole batch.
            outcomes = await self._send(dict.fromkeys(self._destinations, records))
            if all(_clean(o, records) for o in outcomes.values()):
                return Outcome(delivered=tuple(records))
            return self._settle([(r, id(r), None) for r in records], outcomes, [])
        plan, rejected = await self._recall(records)
        batches: dict[str, list[T]] = {name: [] for name in self._destinations}
        for record, _, entry in plan:
            for name, batch in batches.items():
                if entry is None or name not in entry.done:
                    batch.append(record)
        outcomes = await self._send({n: b for n, b in batches.items() if b})
        return self._settle(plan, outcomes, rejected)

    async def _recall(self, records: Sequence[T]) -> tuple[list[_Planned[T]], list[Failure[T]]]:
        """Each record with its memory key and progress; a record whose key raises fails."""
        plan: list[_Planned[T]] = []
        rejected: list[Failure[T]] = []
        for record in records:
            try:
                key: Any = id(record) if self._key is None else await self._key(record)
                plan.append((record, key, self._progress.get(key)))
            except Exception as exc:  # raised, or unhashable: this record only
                rejected.append(Failure(record, exc))
        return plan, rejected

    async def _send(self, batches: Mapping[str, Sequence[T]]) -> dict[str, Outcome[T]]:
        if self._concurrent and len(batches) > 1:
            async with asyncio.TaskGroup() as group:
                tasks = {
                    name: group.create_task(_deliver(self._destinations[name], batch))
                    for name, batch in batches.items()
                }
            return {name: task.result() for name, task in tasks.items()}
        outcomes: dict[str, Outcome[T]] = {}
        for name, batch in batches.items():
            if outcomes and stop_requested():
                outcomes[name] = Outcome.released(batch)
            else:
                outcomes[name] = await _deliver(self._destinations[name], batch)
        return outcomes

    def _settle(
        self,
        plan: Sequence[_Planned[T]],
        outcomes: dict[str, Outcome[T]],
        rejected: list[Failure[T]],
    ) -> Outcome[T]:
        """Combine the destinations' verdicts per record and update the memory."""
        verdicts = {name: _verdicts(outcome) for name, outcome in outcomes.items()}
        delivered: list[T] = []
        failed: list[Failure[T]] = list(rejected)
        dead: list[Failure[T]] = []
        for record, key, entry in plan:
            done = set(entry.done) if entry else set()
            dead_at = dict(entry.dead) if entry else {}
            errors: dict[str, Failure[T]] = {}
            for name, verdict in verdicts.items():
                if name in done or (found := verdict.get(id(record))) is None:
                    done.add(name)  # delivered here now, or before
                elif found[0]:
                    done.add(name)
                    dead_at[name] = found[1]
                else:
                    errors[name] = found[1]
            if errors:
                self._remember(key, _Progress(record, frozenset(done), dead_at))
                failed.append(_failed(record, errors))
                continue
            if entry is not None:
                self._progress.pop(key, None)
            if dead_at:
                dead.append(_dead(record, dead_at))
            else:
                delivered.append(record)
        return Outcome(tuple(delivered), tuple(failed), tuple(dead))

    def _remember(self, key: Hashable, progress: _Progress[T]) -> None:
        """Keep ``progress`` as the most recent entry, evicting the least recent."""
        self._progress[key] = progress
        self._progress.move_to_end(key)
        while len(self._progress) > self._memory:
            self._progress.popitem(last=False)

    def __repr__(self) -> str:
        return (
            f"FanOut(destinations={list(self._destinations)!r}, concurrent={self._concurrent}, "
            f"remembered={len(self._progress)}/{self._memory})"
        )


def fan_out(
    destinations: Mapping[str, Applier[T]] | Sequence[Applier[T]],
    *,
    key: KeyFn[T] | None = None,
    memory: int = 100_000,
    concurrent: bool = True,
) -> Applier[T]:
    """An applier that delivers each record to every destination.

    ``destinations`` is a mapping of names to appliers, or a sequence (named
    ``"0"``, ``"1"``, ...). ``key`` (default: record identity) recognises a record
    across calls; ``memory`` (default 100 000) bounds how many partially
    delivered records are remembered; ``concurrent`` (default True) applies the
    destinations side by side. Raises :class:`~relaybox.core.errors.ConfigurationError`
    for no destinations, one that is not an applier (``None``) or a ``memory``
    below 1.
    """
    return FanOut(destinations, key=key, memory=memory, concurrent=concurrent)


async def _deliver(destination: Applier[T], batch: Sequence[T]) -> Outcome[T]:
    """One destination's complete account of ``batch``; raising counts as failing all."""
    outcome = await attempt(destination, batch)
    return outcome if _clean(outcome, batch) else outcome.reconcile(batch)


def _clean(outcome: Outcome[T], batch: Sequence[T]) -> bool:
    """O(1): everything delivered, nothing failed, dead or fatal."""
    return (
        outcome.error is None
        and not outcome.failed
        and not outcome.dead
        and len(outcome.delivered) == len(batch)
    )


def _verdicts(outcome: Outcome[T]) -> _Verdicts[T]:
    found: _Verdicts[T] = {id(f.record): (False, f) for f in outcome.failed}
    found.update((id(f.record), (True, f)) for f in outcome.dead)
    return found


def _failed(record: T, failures: dict[str, Failure[T]]) -> Failure[T]:
    """The failure of ``record`` standing for its failures at some destinations."""
    attempts = max(f.attempts for f in failures.values())
    errors = {name: f.error for name, f in failures.items()}
    if all(is_released(e) for e in errors.values()):
        # Handed back unattempted wherever it failed: keep it a release, not an attempt.
        return Failure(record, next(iter(errors.values())), attempts)
    if all(is_permanent(e) for e in errors.values()):
        return Failure(record, PermanentFanOutError(errors), attempts)
    # Failed only where a whole call crashed: the record itself is not to blame.
    crashed = all(f.fatal for f in failures.values())
    return Failure(record, FanOutError(errors), attempts, fatal=crashed)


def _dead(record: T, dead_at: dict[str, Failure[T]]) -> Failure[T]:
    """The dead entry of ``record``: the one destination's failure, or all of them."""
    if len(dead_at) == 1:
        return dataclasses.replace(next(iter(dead_at.values())), record=record)
    errors = {name: f.error for name, f in dead_at.items()}
    return Failure(record, FanOutError(errors), max(f.attempts for f in dead_at.values()))


def _named(
    destinations: Mapping[str, Applier[T]] | Sequence[Applier[T]],
) -> dict[str, Applier[T]]:
    named = (
        dict(destinations)
        if isinstance(destinations, Mapping)
        else {str(i): d for i, d in enumerate(destinations)}
    )
    if not named:
        raise ConfigurationError("fan_out() needs at least one destination")
    for name, destination in named.items():
        if not isinstance(name, str):
            raise ConfigurationError(f"destination names must be str, got {name!r}")
        if not callable(getattr(destination, "apply", None)):
            raise ConfigurationError(f"destination {name!r} is not an applier: {destination!r}")
    return named


def _checked_memory(memory: int) -> int:
    if isinstance(memory, bool) or not isinstance(memory, int) or memory < 1:
        raise ConfigurationError(
            f"memory must be a positive int (partially delivered records remembered), "
            f"got {memory!r}"
        )
    return memory
