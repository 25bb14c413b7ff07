"""Routing: send each record to the applier its route names.

``selector(record)`` returns a route key; ``routes`` maps keys to appliers.

Choices:

* Groups form in first-appearance order and keep input order inside, so the
  same batch is always split and reported the same way. Different routes are
  different destinations, so their groups are applied concurrently.
* A record without a route is never dropped silently. It goes to ``default``
  when there is one; otherwise ``unknown`` decides: ``"fail"`` (the default)
  fails it with :class:`~relaybox.core.errors.UnknownRouteError`, a permanent
  error an outer dead-letter stage stores; ``"dead_letter"`` stores it in
  ``dead_letters`` here and reports it dead; ``"skip"`` reports it delivered,
  which must be asked for by name.
* The default group is kept apart from the routed groups, not under a reserved
  key, so no real route can collide with it.
* A group whose applier raises or reports a fatal error fails only its own
  undelivered records, each carrying that error; other groups are unaffected and
  the merged outcome has no fatal error.
* A selector that raises fails only that record, with the selector's error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar

from relaybox.core.calls import per_record
from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import ConfigurationError, DeadLetterError, UnknownRouteError
from relaybox.core.outcome import Failure, Outcome, merge
from relaybox.ports.applier import Applier, attempt
from relaybox.ports.dead_letters import DeadLetter, DeadLetterQueue

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

UnknownPolicy = Literal["fail", "dead_letter", "skip"]
Selector = Callable[[T], K] | Callable[[T], Awaitable[K]]


class Router(Generic[T, K]):
    """Applies each record through the applier of its route (keys of type ``K``).

    See :func:`route`.
    """

    def __init__(
        self,
        selector: Selector[T, K],
        routes: Mapping[K, Applier[T]],
        *,
        default: Applier[T] | None = None,
        unknown: UnknownPolicy = "fail",
        dead_letters: DeadLetterQueue[T] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        _validate(selector, routes, default, unknown, dead_letters)
        self._select: Callable[[T], Awaitable[Any]] = per_record(selector)
        self._routes: dict[K, Applier[T]] = dict(routes)
        self._default = default
        self._unknown = unknown
        self._dead_letters = dead_letters
        self._clock = clock
        self.unrouted = 0
        """How many records had no route so far (live counter)."""

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        if not records:
            return Outcome()
        groups, unrouted, rejected = await self._group(records)
        jobs = [(self._routes[key], group) for key, group in groups.items()]
        if unrouted and self._default is not None:
            jobs.insert(unrouted[0][0], (self._default, [record for _, record, _ in unrouted]))
            unrouted = []
        self.unrouted += len(unrouted)
        if len(jobs) == 1 and not unrouted and not rejected:
            return await _apply_group(*jobs[0])
        async with asyncio.TaskGroup() as task_group:
            tasks = [task_group.create_task(_apply_group(a, g)) for a, g in jobs]
            unknown = task_group.create_task(self._settle_unrouted(unrouted))
        return merge([*(t.result() for t in tasks), unknown.result(), Outcome(failed=rejected)])

    async def _group(
        self, records: Sequence[T]
    ) -> tuple[dict[K, list[T]], list[tuple[int, T, Hashable]], list[Failure[T]]]:
        """Routed groups in first-appearance order, the unrouted records, selector failures.

        Each unrouted entry remembers how many groups existed when it was met, so the
        default group can take its first-appearance place among them.
        """
        groups: dict[K, list[T]] = {}
        unrouted: list[tuple[int, T, Hashable]] = []
        rejected: list[Failure[T]] = []
        routes = self._routes
        for record in records:
            try:
                key = await self._select(record)
                group = groups.get(key)
                if group is None:
                    if key not in routes:
                        unrouted.append((len(groups), record, key))
                        continue
                    group = groups[key] = []
                group.append(record)
            except Exception as exc:  # a bad key (raised, unhashable) fails its record only
                rejected.append(Failure(record, exc))
        return groups, unrouted, rejected

    async def _settle_unrouted(self, unrouted: list[tuple[int, T, Hashable]]) -> Outcome[T]:
        """Records with no route and no default, handled as ``unknown`` says."""
        if not unrouted:
            return Outcome()
        if self._unknown == "skip":
            return Outcome(delivered=tuple(record for _, record, _ in unrouted))
        failures = [Failure(record, UnknownRouteError(key)) for _, record, key in unrouted]
        if self._unknown == "fail" or self._dead_letters is None:
            return Outcome(failed=tuple(failures))
        return await _store(self._dead_letters, failures, self._clock.now())

    def __repr__(self) -> str:
        return (
            f"Router(routes={list(self._routes)!r}, default={self._default!r}, "
            f"unknown={self._unknown!r}, unrouted={self.unrouted})"
        )


def route(
    selector: Selector[T, K],
    routes: Mapping[K, Applier[T]],
    *,
    default: Applier[T] | None = None,
    unknown: UnknownPolicy = "fail",
    dead_letters: DeadLetterQueue[T] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Applier[T]:
    """An applier sending each record to ``routes[selector(record)]``.

    Records without a route go to ``default`` (none by default); without one,
    ``unknown`` (default ``"fail"``) decides: ``"fail"`` with
    :class:`~relaybox.core.errors.UnknownRouteError`, ``"dead_letter"`` into
    ``dead_letters`` (required then; stamped with ``clock.now()``), or ``"skip"``
    as delivered. ``selector`` may be ``def`` or ``async def``. Raises
    :class:`~relaybox.core.errors.ConfigurationError` for a route mapped to
    ``None``, no routes and no default, or an inconsistent ``unknown`` setting.
    """
    return Router(
        selector, routes, default=default, unknown=unknown, dead_letters=dead_letters, clock=clock
    )


async def _apply_group(applier: Applier[T], group: Sequence[T]) -> Outcome[T]:
    """One group's outcome; a fatal error fails only the group's unsettled records."""
    outcome = await attempt(applier, group)
    if outcome.error is None:
        return outcome
    settled = outcome.reconcile(group)
    return Outcome(settled.delivered, settled.failed, settled.dead)


async def _store(queue: DeadLetterQueue[T], failures: list[Failure[T]], now: float) -> Outcome[T]:
    """Dead-letter each failure; one the queue cannot store stays failed."""
    dead: list[Failure[T]] = []
    failed: list[Failure[T]] = []
    for failure in failures:
        stamped = Failure(failure.record, failure.error, failure.attempts, now, now)
        try:
            await queue.put(DeadLetter.of(stamped, now=now))
        except Exception as exc:
            error = DeadLetterError(failure.error)
            error.__cause__ = exc
            failed.append(Failure(failure.record, error, failure.attempts, now, now))
        else:
            dead.append(stamped)
    return Outcome(failed=tuple(failed), dead=tuple(dead))


def _validate(
    selector: object,
    routes: Mapping[Any, object],
    default: object,
    unknown: str,
    dead_letters: object,
) -> None:
    if not callable(selector):
        raise ConfigurationError(f"selector must be a function of one record, got {selector!r}")
    if not routes and default is None:
        raise ConfigurationError("route() needs at least one route or a default applier")
    for key, target in routes.items():
        if target is None:
            raise ConfigurationError(
                f"route {key!r} is mapped to None; remove it or give it an applier "
                "(records without a route go to default= or follow unknown=)"
            )
    if unknown not in ("fail", "dead_letter", "skip"):
        raise ConfigurationError(
            f"unknown must be 'fail', 'dead_letter' or 'skip', got {unknown!r}"
        )
    if unknown == "dead_letter" and dead_letters is None:
        raise ConfigurationError("unknown='dead_letter' needs a dead_letters= queue")
    if dead_letters is not None and unknown != "dead_letter":
        raise ConfigurationError("dead_letters= is only used with unknown='dead_letter'; set both")
