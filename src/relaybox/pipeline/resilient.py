"""The resilient stack: retry, dead letters and a circuit breaker in the right order.

``resilient(applier)`` builds ``breaker(dead_letter(retry(applier)))``:

* Retry is innermost, so a failing record is tried again before anything
  gives up on it; with dead letters inside retry the first failure would be
  stored at once and retry would never run.
* Dead letters wrap retry, so only what retry could not fix is stored, with
  its true attempt count, and records retry released (a stop, a spent time
  budget, a blocked key) are handed back to the source, never stored.
* The breaker is outermost, so it sees every downstream failure, including
  the ones just dead-lettered: a downstream that fails every record opens the
  circuit instead of looking healthy because its failures were stored, and an
  open circuit refuses a batch before it spends a retry budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from relaybox.core.backoff import RetryPolicy
from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.outcome import Outcome
from relaybox.pipeline.middleware.circuit_breaker import (
    BreakerSettings,
    CircuitBreaker,
    CircuitBreakerApplier,
)
from relaybox.pipeline.middleware.dead_letter import DeadLetteringApplier, InMemoryDeadLetterQueue
from relaybox.pipeline.middleware.retry import RetryingApplier
from relaybox.ports.applier import Applier
from relaybox.ports.dead_letters import DeadLetterQueue

T = TypeVar("T")


class Resilient(Generic[T]):
    """An applier wrapped in breaker, dead letters and retry (outermost first).

    ``dead_letters``, ``breaker`` and ``policy`` are the parts in use, for
    inspection and operations (reading letters, resetting the breaker).
    """

    def __init__(
        self,
        applier: Applier[T],
        dead_letters: DeadLetterQueue[T],
        breaker: CircuitBreaker,
        policy: RetryPolicy,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.dead_letters = dead_letters
        self.breaker = breaker
        self.policy = policy
        retried = self._retrying = RetryingApplier(applier, policy, clock=clock)
        stored = DeadLetteringApplier(retried, dead_letters, clock=clock)
        self._stack: Applier[T] = CircuitBreakerApplier(stored, breaker)

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        return await self._stack.apply(records)

    @property
    def retries(self) -> int:
        """How many record retries the stack has made so far."""
        return self._retrying.retries

    def __repr__(self) -> str:
        return f"Resilient({self._stack!r})"


def _breaker(breaker: CircuitBreaker | BreakerSettings | None, clock: Clock) -> CircuitBreaker:
    if isinstance(breaker, CircuitBreaker):
        return breaker
    return CircuitBreaker(breaker or BreakerSettings(), clock=clock)


def resilient(
    applier: Applier[T],
    dead_letters: DeadLetterQueue[T] | None = None,
    *,
    retry: RetryPolicy = RetryPolicy(),
    breaker: CircuitBreaker | BreakerSettings | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Resilient[T]:
    """``applier`` with retry, dead letters and a circuit breaker; see the module docs.

    Defaults: ``RetryPolicy()`` (5 attempts, 100 ms doubling to 30 s), an
    :class:`InMemoryDeadLetterQueue` (10 000 letters, rejects when full) and a
    breaker with :class:`BreakerSettings` defaults (opens after 5 failed calls,
    rests 30 s).
    """
    queue: DeadLetterQueue[T] = (
        dead_letters if dead_letters is not None else InMemoryDeadLetterQueue()
    )
    return Resilient(applier, queue, _breaker(breaker, clock), retry, clock=clock)


def with_retry(
    applier: Applier[T], policy: RetryPolicy = RetryPolicy(), *, clock: Clock = SYSTEM_CLOCK
) -> RetryingApplier[T]:
    """``applier`` retrying failed records under ``policy``."""
    return RetryingApplier(applier, policy, clock=clock)


def with_dead_letters(
    applier: Applier[T],
    queue: DeadLetterQueue[T] | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[Applier[T], DeadLetterQueue[T]]:
    """``applier`` storing its failures in ``queue`` (default: a new in-memory one)."""
    store: DeadLetterQueue[T] = queue if queue is not None else InMemoryDeadLetterQueue()
    return DeadLetteringApplier(applier, store, clock=clock), store


def with_circuit_breaker(
    applier: Applier[T],
    settings: BreakerSettings | CircuitBreaker | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> CircuitBreakerApplier[T]:
    """``applier`` guarded by a breaker (``.breaker`` on the result)."""
    return CircuitBreakerApplier(applier, _breaker(settings, clock))
