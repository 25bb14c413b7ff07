"""Per-key ordering: records of one key reach the downstream one at a time, in order.

Events about one entity (an order, an account) must be applied in the order
they happened; events about different entities need not wait for each other.

Choices:

* Records are grouped by ``key(record)`` in arrival order (one O(n) pass).
  Within a key they are applied one per inner call, each after the previous
  one settled; different keys run concurrently, at most ``max_concurrent_keys``
  at once. One call per record is the price of strict order: a batch call
  could deliver a later record while an earlier one fails.
* A key stops at its first failure (a failed record or a fatal error). Its later
  records in this batch are not applied; they fail with
  :class:`~relaybox.core.errors.KeyBlockedError`, a release: retry offers them
  again after the head and dead letters never take them. Other keys go on.
* A dead record (dead-lettered or skipped by policy) is finished for good, so
  it does not block its key.
* Records whose key is ``None`` are unordered: they go to the inner applier
  together in one call, as one more unit of work among the keys.
* Stopping: a key not yet started, and the rest of a started key, are released
  with :class:`~relaybox.core.errors.ShutdownReleasedError`; a call already made
  finishes normally. That includes the rest of a key whose record failed once
  the stop was requested (a retry inside handing it back, say): it is released
  for the stop, not blocked.
* The merged outcome carries no fatal error: each failure carries its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from relaybox.core.calls import per_record
from relaybox.core.errors import ConfigurationError, KeyBlockedError, ShutdownReleasedError
from relaybox.core.outcome import Failure, Outcome, merge
from relaybox.core.stopping import stop_requested
from relaybox.ports.applier import Applier, Middleware, attempt

T = TypeVar("T")

KeyFn = Callable[[T], Hashable | None] | Callable[[T], Awaitable[Hashable | None]]
_Unit = tuple[Hashable | None, list[T]]


class OrderedApplier(Generic[T]):
    """Applies records one at a time per key, keys concurrently; see :func:`ordered`."""

    def __init__(self, inner: Applier[T], key: KeyFn[T], *, max_concurrent_keys: int = 30) -> None:
        _validate(key, max_concurrent_keys)
        self._inner = inner
        self._key: Callable[[T], Awaitable[Any]] = per_record(key)
        self._limit = max_concurrent_keys
        self._active = 0

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        if not records:
            return Outcome()
        units, rejected = await self._group(records)
        results: list[Outcome[T]] = [Outcome()] * len(units)
        pending = iter(enumerate(units))
        if len(units) == 1:
            await self._work(pending, results)
        else:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self._limit, len(units))):
                    group.create_task(self._work(pending, results))
        return merge([*results, Outcome(failed=tuple(rejected))])

    async def _group(self, records: Sequence[T]) -> tuple[list[_Unit[T]], list[Failure[T]]]:
        """Records by key in arrival order; ``None`` is the unordered group."""
        groups: dict[Hashable | None, list[T]] = {}
        rejected: list[Failure[T]] = []
        for record in records:
            try:
                key = await self._key(record)
                group = groups.get(key)
                if group is None:
                    group = groups[key] = []
                group.append(record)
            except Exception as exc:  # raised, or unhashable: fails this record only
                rejected.append(Failure(record, exc))
        return list(groups.items()), rejected

    async def _work(
        self, pending: Iterator[tuple[int, _Unit[T]]], results: list[Outcome[T]]
    ) -> None:
        """Take units from the shared iterator until none is left."""
        for index, (key, group) in pending:
            self._active += 1
            try:
                if key is None:
                    results[index] = await self._apply_unordered(group)
                else:
                    results[index] = await self._apply_in_order(key, group)
            finally:
                self._active -= 1

    async def _apply_unordered(self, group: list[T]) -> Outcome[T]:
        if stop_requested():
            return Outcome.released(group)
        outcome = await self._attempt(group)
        if outcome.error is None:
            return outcome
        settled = outcome.reconcile(group)
        return Outcome(settled.delivered, settled.failed, settled.dead)

    async def _apply_in_order(self, key: Hashable, group: list[T]) -> Outcome[T]:
        """Apply ``group`` record by record until one fails or the pipeline stops."""
        delivered: list[T] = []
        dead: list[Failure[T]] = []
        for position, record in enumerate(group):
            if stop_requested():
                failed = Outcome.released(group[position:]).failed
                return Outcome(tuple(delivered), failed, tuple(dead))
            one = (record,)
            outcome = await self._attempt(one)
            if outcome.count == 1 and outcome.delivered and outcome.delivered[0] is record:
                delivered.append(record)  # hot path: delivered, nothing to reconcile
                continue
            settled = outcome.reconcile(one)
            if settled.delivered:
                delivered.append(record)
            elif settled.dead:
                dead.extend(settled.dead)
            else:
                # Stopping: the rest is released for the stop, not held behind the head.
                blocked = (
                    ShutdownReleasedError()
                    if stop_requested()
                    else KeyBlockedError(f"an earlier record with key {key!r} failed")
                )
                rest = Outcome.released(group[position + 1 :], blocked).failed
                return Outcome(tuple(delivered), (*settled.failed, *rest), tuple(dead))
        return Outcome(tuple(delivered), (), tuple(dead))

    async def _attempt(self, records: Sequence[T]) -> Outcome[T]:
        return await attempt(self._inner, records)

    def __repr__(self) -> str:
        return (
            f"OrderedApplier(max_concurrent_keys={self._limit}, active_keys={self._active}, "
            f"inner={self._inner!r})"
        )


def ordered(key: KeyFn[T], *, max_concurrent_keys: int = 30) -> Middleware[T]:
    """Middleware that keeps per-key order: one record at a time per key, in order.

    ``key(record)`` (a ``def`` or ``async def``) names the key; ``None`` means the
    record is unordered. Up to ``max_concurrent_keys`` (default 30) keys run at
    once. A key's first failure blocks its later records in the batch with
    :class:`~relaybox.core.errors.KeyBlockedError`. Raises
    :class:`~relaybox.core.errors.ConfigurationError` for a non-callable ``key``
    or a limit below 1.
    """
    _validate(key, max_concurrent_keys)

    def wrap(inner: Applier[T]) -> Applier[T]:
        return OrderedApplier(inner, key, max_concurrent_keys=max_concurrent_keys)

    return wrap


def _validate(key: object, max_concurrent_keys: int) -> None:
    if not callable(key):
        raise ConfigurationError(f"key must be a function of one record, got {key!r}")
    limit = max_concurrent_keys
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigurationError(
            f"max_concurrent_keys must be a positive int (keys applied at once), got {limit!r}"
        )
