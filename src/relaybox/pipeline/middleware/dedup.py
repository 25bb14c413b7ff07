"""Deduplication: never apply a record whose key was already delivered.

A record whose key the store remembers is skipped as a duplicate and reported
delivered (it was, earlier). Only keys delivered by the inner applier are
remembered, so failed records stay eligible for another attempt.

Two records with one key in the same batch are applied once: the first goes to
the inner applier and the others share its fate. Keys are claimed in memory
before the store is asked, with no await in between, so two concurrent calls of
one middleware never both apply a key: the later call fails such records with
:class:`DuplicateInFlightError`, a release (not attempted, never dead-lettered),
to be offered again once the first is settled.
A record whose key cannot be computed fails alone with that exception.

:class:`InMemoryDedupStore` expires keys lazily: an expired key is simply not
seen, and expired entries are purged from the oldest end on writes. Entries live
in insertion order in an :class:`~collections.OrderedDict`, so both expiry and
capacity eviction are O(1) per key and no background task is needed.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import operator
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from typing import Generic, TypeVar

from relaybox.core.calls import call_maybe_async, is_async_callable
from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import ConfigurationError, DuplicateInFlightError
from relaybox.core.outcome import Failure, Outcome
from relaybox.ports.applier import Applier, Middleware, attempt
from relaybox.ports.dedup import DedupStore

T = TypeVar("T")

KeyFn = Callable[[T], Hashable] | Callable[[T], Awaitable[Hashable]]

_log = logging.getLogger("relaybox.dedup")


class InMemoryDedupStore:
    """Remembers delivered keys in memory for ``ttl`` seconds, at most ``capacity`` of them.

    Defaults: ``ttl=3600.0`` (``None`` = never expire), ``capacity=100_000``
    (``None`` = unbounded). Remembering a known key refreshes it; only a new
    key can evict the oldest one.
    """

    def __init__(
        self,
        ttl: float | None = 3600.0,
        capacity: int | None = 100_000,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if ttl is not None and not (math.isfinite(ttl) and ttl > 0):
            raise ConfigurationError(f"ttl must be positive seconds or None, not {ttl!r}")
        if capacity is not None and capacity < 1:
            raise ConfigurationError(f"capacity must be at least 1 key or None, not {capacity!r}")
        self.ttl = ttl
        self.capacity = capacity
        self._clock = clock
        # key -> monotonic time remembered; oldest first because every write moves to the end.
        self._entries: OrderedDict[Hashable, float] = OrderedDict()

    async def seen(self, keys: Collection[Hashable], /) -> set[Hashable]:
        entries = self._entries
        hits = entries.keys() & keys
        if self.ttl is None or not hits:
            return hits
        oldest = self._clock.monotonic() - self.ttl
        return {k for k in hits if entries[k] > oldest}

    async def remember(self, keys: Collection[Hashable], /) -> None:
        now = self._clock.monotonic()
        self._purge(now)
        entries = self._entries
        if entries.keys().isdisjoint(keys):
            # All new (the usual case): one bulk insert, then trim the oldest.
            entries.update(dict.fromkeys(keys, now))
            while self.capacity is not None and len(entries) > self.capacity:
                entries.popitem(last=False)
            return
        for key in keys:
            if key in entries:
                entries.move_to_end(key)
            elif self.capacity is not None and len(entries) >= self.capacity:
                entries.popitem(last=False)
            entries[key] = now

    def _purge(self, now: float) -> None:
        if self.ttl is None:
            return
        oldest = now - self.ttl
        entries = self._entries
        while entries:
            key, remembered = next(iter(entries.items()))
            if remembered > oldest:
                return
            del entries[key]

    def __len__(self) -> int:
        """Entries held, expired ones not yet purged included."""
        return len(self._entries)

    def __repr__(self) -> str:
        return f"InMemoryDedupStore(ttl={self.ttl}, capacity={self.capacity}, size={len(self)})"


class DeduplicatingApplier(Generic[T]):
    """Applies each key at most once; see :func:`deduplicate`."""

    def __init__(
        self, inner: Applier[T], key: KeyFn[T], store: DedupStore, in_flight: set[Hashable]
    ) -> None:
        self._inner = inner
        self._key = key
        self._async_key = is_async_callable(key)
        self._store = store
        self._in_flight = in_flight

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        keys = await self._keys(records)
        broken: list[Failure[T]] = []
        if len(keys) != len(records):
            records, keys, broken = await self._isolate_broken(records)
        batch = _Batch(records, keys, self._in_flight)
        try:
            outcome = await self._apply_claimed(batch)
        finally:
            self._in_flight.difference_update(batch.first)
        if broken:
            return dataclasses.replace(outcome, failed=(*outcome.failed, *broken))
        return outcome

    async def _apply_claimed(self, batch: _Batch[T]) -> Outcome[T]:
        first = batch.first
        seen = await self._store.seen(first.keys()) if first else set()
        fresh = [k for k in first if k not in seen] if seen else list(first)
        outcome: Outcome[T] = Outcome()
        if fresh:
            # All unique and new (the usual case): pass the caller's sequence as is.
            whole = len(fresh) == len(batch.records)
            to_apply = batch.records if whole else [first[k] for k in fresh]
            outcome = await attempt(self._inner, to_apply)
            if outcome.error is not None or batch.followers:
                outcome = outcome.reconcile(to_apply)
            await self._remember(_delivered_keys(outcome.delivered, to_apply, fresh))
        if not seen and len(fresh) == len(batch.records):
            return outcome
        return batch.account(outcome, seen)

    async def _remember(self, keys: list[Hashable]) -> None:
        if not keys:
            return
        try:
            await self._store.remember(keys)
        except Exception:
            # The records were delivered; forgetting them only risks applying a
            # later copy again, which at-least-once delivery allows.
            _log.exception("could not remember %d delivered keys", len(keys))

    async def _keys(self, records: Sequence[T]) -> list[Hashable]:
        """Every record's key, or an empty list when the key function raised for one."""
        try:
            if not self._async_key:
                key: Callable[[T], Hashable] = self._key  # type: ignore[assignment]
                return [key(r) for r in records]
            async_key: Callable[[T], Awaitable[Hashable]] = self._key  # type: ignore[assignment]
            return [await async_key(r) for r in records]
        except Exception:
            return []

    async def _isolate_broken(
        self, records: Sequence[T]
    ) -> tuple[list[T], list[Hashable], list[Failure[T]]]:
        """The slow way: a record whose key cannot be computed fails alone with the error."""
        kept: list[T] = []
        keys: list[Hashable] = []
        broken: list[Failure[T]] = []
        for record in records:
            try:
                keys.append(await call_maybe_async(self._key, record))
            except Exception as exc:
                broken.append(Failure(record, exc))
            else:
                kept.append(record)
        return kept, keys, broken

    def __repr__(self) -> str:
        return (
            f"DeduplicatingApplier({self._inner!r}, store={self._store!r}, "
            f"in_flight={len(self._in_flight)})"
        )


class _Batch(Generic[T]):
    """One call's records sorted by key; builds the full account afterwards."""

    def __init__(
        self, records: Sequence[T], keys: list[Hashable], in_flight: set[Hashable]
    ) -> None:
        self.records = records
        self.first: dict[Hashable, T] = {}
        self.followers: list[tuple[T, T]] = []
        self.busy: list[T] = []
        # Claiming happens here, synchronously, so no other call can slip in.
        unique = dict(zip(keys, records, strict=True))
        if len(unique) == len(records) and in_flight.isdisjoint(unique):
            self.first = unique
            in_flight.update(unique)
            return
        for record, key in zip(records, keys, strict=True):
            if key in self.first:
                self.followers.append((record, self.first[key]))
            elif key in in_flight:
                self.busy.append(record)
            else:
                self.first[key] = record
                in_flight.add(key)

    def account(self, outcome: Outcome[T], seen: set[Hashable]) -> Outcome[T]:
        duplicates = [r for k, r in self.first.items() if k in seen]
        delivered = [*outcome.delivered, *duplicates]
        failed = list(outcome.failed)
        dead = list(outcome.dead)
        if self.followers:
            fate = _fates(outcome, duplicates)
            for follower, leader in self.followers:
                verdict = fate[id(leader)]
                if verdict is None:
                    delivered.append(follower)
                else:
                    target = dead if verdict[0] else failed
                    target.append(dataclasses.replace(verdict[1], record=follower))
        if self.busy:
            error = DuplicateInFlightError()
            failed.extend(Failure(r, error, 0) for r in self.busy)  # released: no attempt
        return Outcome(tuple(delivered), tuple(failed), tuple(dead), outcome.error)


def _delivered_keys(
    delivered: Sequence[T], applied: Sequence[T], keys: list[Hashable]
) -> list[Hashable]:
    """The keys of ``delivered``, given ``applied`` and their ``keys`` in the same order."""
    if len(delivered) == len(applied) and all(map(operator.is_, delivered, applied)):
        return keys  # everything delivered, in order: no lookup needed
    key_of = dict(zip(map(id, applied), keys, strict=True))
    return [key_of[i] for i in map(id, delivered) if i in key_of]


def _fates(outcome: Outcome[T], duplicates: list[T]) -> dict[int, tuple[bool, Failure[T]] | None]:
    """Per leader id: None when delivered, else (is_dead, its failure)."""
    fate: dict[int, tuple[bool, Failure[T]] | None] = {}
    fate.update((id(r), None) for r in outcome.delivered)
    fate.update((id(r), None) for r in duplicates)
    fate.update((id(f.record), (False, f)) for f in outcome.failed)
    fate.update((id(f.record), (True, f)) for f in outcome.dead)
    return fate


def deduplicate(key: KeyFn[T], store: DedupStore | None = None) -> Middleware[T]:
    """Middleware applying each deduplication key at most once.

    ``key(record)`` (``def``, called inline, or ``async def``) gives the key;
    ``store`` defaults to a fresh :class:`InMemoryDedupStore` with its defaults,
    shared (with the in-flight claims) by every applier this middleware wraps.
    """
    if not callable(key):
        raise ConfigurationError(f"key must be a callable taking a record, not {key!r}")
    chosen: DedupStore = InMemoryDedupStore() if store is None else store
    in_flight: set[Hashable] = set()

    def wrap(inner: Applier[T]) -> Applier[T]:
        return DeduplicatingApplier(inner, key, chosen, in_flight)

    return wrap
