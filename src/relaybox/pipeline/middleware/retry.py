"""Retry: apply the records that failed again, with backoff, inside one apply call.

Choices:

* Only the failed subset is offered again; delivered and dead records are
  settled at once and never sent twice.
* :class:`~relaybox.core.errors.PermanentError` failures come back at once, and a
  fatal error of the whole call (``Outcome.error`` or a raised exception) is not
  retried: the records delivered so far are kept and the rest fail with it.
* Attempts are counted per record and only for real attempts. A record handed
  back unattempted (a :class:`~relaybox.core.errors.ReleasedError`, such as a
  blocked key) is offered again with the others without using up its attempts;
  when only such records are left they are returned as they are, so a blocked
  record can never keep a call spinning.
* The elapsed budget (``policy.elapsed_limit``, on the injected clock) bounds an
  unlimited policy: when the next wait would pass it, the still-failing records
  are released to their source (:class:`RetryBudgetSpentError`, caused by the
  real error) instead of failed, so an outer dead-letter stage does not take a
  record that was merely out of time.
* Waits use :func:`~relaybox.core.stopping.sleep_unless_stopped`: a stopping
  coordinator gets the waiting records back as released, never dead-lettered.
* Hot path: when the first outcome is complete and has no failures it is
  returned unchanged, with no per-record work.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from relaybox.core.backoff import RetryPolicy
from relaybox.core.calls import call_maybe_async, to_async
from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import (
    ReleasedError,
    ShutdownReleasedError,
    TemporaryError,
    is_permanent,
    is_released,
)
from relaybox.core.outcome import Failure, Outcome
from relaybox.core.stopping import sleep_unless_stopped
from relaybox.ports.applier import AnyMiddleware, Applier, attempt

T = TypeVar("T")
R = TypeVar("R")

RetryHook = Callable[[Any, int, BaseException], object]
"""``on_retry(record, attempts_so_far, error)``; a ``def`` or an ``async def``."""

logger = logging.getLogger("relaybox.retry")


class RetryBudgetSpentError(ReleasedError):
    """The retry budget of this call is spent; the source will offer the record again."""


class _Ledger(Generic[T]):
    """Per call: the true attempt count and failure times of each record, by identity."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tries: dict[int, int] = {}
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}

    def count(self, failure: Failure[T]) -> Failure[T]:
        """``failure`` with true totals; a released failure adds no attempt."""
        key = id(failure.record)
        if is_released(failure.error):
            if key not in self._tries:
                return failure
            return dataclasses.replace(
                failure,
                attempts=self._tries[key],
                first_failed_at=self._first[key],
                last_failed_at=self._last[key],
            )
        now = self._clock.now()
        tries = self._tries.get(key, 0) + max(1, failure.attempts)
        self._tries[key] = tries
        first = self._first.setdefault(key, failure.first_failed_at or now)
        last = self._last[key] = failure.last_failed_at or now
        return dataclasses.replace(
            failure, attempts=tries, first_failed_at=first, last_failed_at=last
        )


def _released(failure: Failure[T], error: ReleasedError) -> Failure[T]:
    """``failure`` handed back to the source as ``error``, caused by its real error."""
    error.__cause__ = failure.error
    return dataclasses.replace(failure, error=error)


class RetryingApplier(Generic[T]):
    """Applies records and retries the failed ones as ``policy`` allows.

    ``on_retry(record, attempts_so_far, error)`` is called once per record right
    before each retry, with the real error of its last attempt; a hook that
    raises is logged and ignored, so it cannot lose the outcome. ``rng`` feeds
    the jitter (default: the ``random`` module).
    """

    def __init__(
        self,
        inner: Applier[T],
        policy: RetryPolicy = RetryPolicy(),
        *,
        clock: Clock = SYSTEM_CLOCK,
        on_retry: RetryHook | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self.retries = 0
        """How many record retries this applier has made (live counter)."""
        self._inner = inner
        self._clock = clock
        self._on_retry = on_retry
        self._rng = rng

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        started = self._clock.monotonic()
        outcome = await self._attempt(records)
        if outcome.error is None and not outcome.failed and outcome.count == len(records):
            return outcome
        return await self._retry(records, outcome, started)

    async def _attempt(self, records: Sequence[T]) -> Outcome[T]:
        return await attempt(self._inner, records)

    async def _retry(self, batch: Sequence[T], outcome: Outcome[T], started: float) -> Outcome[T]:
        ledger: _Ledger[T] = _Ledger(self._clock)
        delivered: list[T] = []
        dead: list[Failure[T]] = []
        settled: list[Failure[T]] = []
        retry_number = 0
        while True:
            current = outcome.reconcile(batch)
            delivered.extend(current.delivered)
            dead.extend(current.dead)
            failures = [ledger.count(f) for f in current.failed]
            if current.error is not None:
                return Outcome(delivered, settled + failures, dead, current.error)
            pending = self._settle(failures, settled)
            if all(is_released(f.error) for f in pending):
                return Outcome(delivered, settled + pending, dead)
            retry_number += 1
            release = await self._wait(retry_number, started, pending)
            if release is not None:
                released = [_released(f, release()) for f in pending]
                return Outcome(delivered, settled + released, dead)
            await self._announce(pending)
            batch = [f.record for f in pending]
            outcome = await self._attempt(batch)

    def _settle(self, failures: list[Failure[T]], settled: list[Failure[T]]) -> list[Failure[T]]:
        """Move failures that are final into ``settled``; return the ones to retry."""
        pending: list[Failure[T]] = []
        for failure in failures:
            final = is_permanent(failure.error) or (
                not is_released(failure.error) and not self.policy.should_retry(failure.attempts)
            )
            (settled if final else pending).append(failure)
        return pending

    async def _wait(
        self, retry_number: int, started: float, pending: list[Failure[T]]
    ) -> type[ReleasedError] | None:
        """Sleep before retry ``retry_number``; None once slept, else why to release.

        A downstream's ``retry_after`` hint (on a :class:`TemporaryError`) stretches
        the wait, up to the policy's ``max_delay``.
        """
        delay = _stretched(self.policy.delay(retry_number, self._rng), pending, self.policy)
        limit = self.policy.elapsed_limit
        if limit is not None and self._clock.monotonic() - started + delay > limit:
            return RetryBudgetSpentError
        if not await sleep_unless_stopped(self._clock, delay):
            return ShutdownReleasedError
        return None

    async def _announce(self, pending: list[Failure[T]]) -> None:
        self.retries += len(pending)
        if self._on_retry is None:
            return
        for failure in pending:
            try:
                await call_maybe_async(
                    self._on_retry, failure.record, failure.attempts, failure.error
                )
            except Exception:  # a broken hook must not lose the outcome
                logger.exception("on_retry hook failed")

    def __repr__(self) -> str:
        return f"RetryingApplier({self._inner!r}, {self.policy!r}, retries={self.retries})"


def _stretched(delay: float, pending: list[Failure[T]], policy: RetryPolicy) -> float:
    hints = [
        f.error.retry_after
        for f in pending
        if isinstance(f.error, TemporaryError) and f.error.retry_after is not None
    ]
    if not hints:
        return delay
    return min(max(delay, *hints), policy.backoff.max_delay)


def retry(
    policy: RetryPolicy = RetryPolicy(),
    *,
    clock: Clock = SYSTEM_CLOCK,
    on_retry: RetryHook | None = None,
    rng: random.Random | None = None,
) -> AnyMiddleware:
    """Middleware retrying failed records; see :class:`RetryingApplier`.

    Defaults: ``RetryPolicy()`` (5 attempts, 100 ms doubling to 30 s, 10 % jitter).
    """

    def wrap(inner: Applier[T], /) -> Applier[T]:
        return RetryingApplier(inner, policy, clock=clock, on_retry=on_retry, rng=rng)

    return wrap


def _temporary(error: BaseException) -> bool:
    return not is_permanent(error)


async def retry_call(
    fn: Callable[[], Awaitable[R]] | Callable[[], R],
    policy: RetryPolicy = RetryPolicy(),
    *,
    clock: Clock = SYSTEM_CLOCK,
    retry_on: Callable[[BaseException], bool] = _temporary,
    rng: random.Random | None = None,
) -> R:
    """Call ``fn`` until it returns, retrying errors ``retry_on`` accepts (default:
    all but :class:`~relaybox.core.errors.PermanentError`) as ``policy`` allows.

    Returns the value, or raises the last error when attempts or the elapsed
    budget run out; raises :class:`~relaybox.core.errors.ShutdownReleasedError`
    (caused by the last error) when a stop is requested during a wait. A sync
    ``fn`` runs in a worker thread.
    """
    call = to_async(fn)
    started = clock.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except Exception as exc:
            if not retry_on(exc) or not policy.should_retry(attempt):
                raise
            error = exc
        delay = policy.delay(attempt, rng)
        limit = policy.elapsed_limit
        if limit is not None and clock.monotonic() - started + delay > limit:
            raise error
        if not await sleep_unless_stopped(clock, delay):
            raise ShutdownReleasedError() from error
