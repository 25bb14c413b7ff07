"""Circuit breaker: stop calling a downstream that keeps failing, then probe it.

Choices:

* Closed -> open after ``failure_threshold`` consecutive failed calls. Open ->
  half-open once ``reset_timeout`` has passed since the circuit OPENED; a failure
  reported while open does not extend the rest.
* Half-open admits at most ``half_open_max_calls`` probes at a time; the slot
  is given back on every path, including exceptions and cancellation. Results
  of calls admitted before the last state change are ignored, so a slow call
  from an earlier state cannot close or reopen the circuit.
* A call fails when its outcome has a fatal error that is not a release, or
  when more than ``failure_ratio`` of its records failed downstream (failed or
  dead, neither permanent nor released): dead letters sit inside the breaker,
  so a dead-lettered record still says the downstream is broken.
* ``on_state_change(old, new)`` runs after the state is updated and no lock is
  held, so it may call the breaker (``reset()`` included). An ``async def``
  hook runs as a task that the middleware awaits before returning.
* A refused call fails every record with
  :class:`~relaybox.core.errors.CircuitOpenError` and sets it as the outcome's
  ``error`` too, with ``retry_after``, so a coordinator backs off. The error is
  a release (the records were handed back unattempted): retry does not count
  it as an attempt, dead letters never take it and an outer breaker does not
  count it, also when a middleware in between (``ordered``, ``route``,
  ``fan_out``) turned the refused call into per-record failures.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import CircuitOpenError, ConfigurationError, is_permanent, is_released
from relaybox.core.outcome import Failure, Outcome
from relaybox.ports.applier import AnyMiddleware, Applier, attempt

T = TypeVar("T")

logger = logging.getLogger("relaybox.circuit_breaker")


class CircuitState(StrEnum):
    """Closed: calls flow. Open: calls are refused. Half-open: a few probes test the way."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


StateHook = Callable[[CircuitState, CircuitState], object]
"""``on_state_change(old, new)``; a ``def`` or an ``async def``."""


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """When the circuit opens and how it recovers.

    Defaults: open after 5 consecutive failed calls, rest 30 s, then admit 1
    probe at a time and close after 2 successful probes; a call fails when
    more than half (0.5) of its records failed downstream.
    """

    failure_threshold: int = 5
    success_threshold: int = 2
    reset_timeout: float = 30.0
    half_open_max_calls: int = 1
    failure_ratio: float = 0.5

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ConfigurationError("failure_threshold (failed calls that open) must be >= 1")
        if self.success_threshold < 1:
            raise ConfigurationError("success_threshold (probes that close) must be >= 1")
        if not (math.isfinite(self.reset_timeout) and self.reset_timeout >= 0):
            raise ConfigurationError("reset_timeout must be finite seconds >= 0")
        if self.half_open_max_calls < 1:
            raise ConfigurationError("half_open_max_calls must be >= 1")
        if not 0.0 <= self.failure_ratio <= 1.0:
            raise ConfigurationError("failure_ratio must be a fraction within 0.0..1.0")


class CircuitBreaker:
    """The breaker state machine; see the module docstring for the rules.

    ``allow()`` admits a call (in half-open it takes a probe slot);
    ``record_success()``/``record_failure()`` report its result and
    ``release()`` gives the slot back without a result.
    """

    def __init__(
        self,
        settings: BreakerSettings = BreakerSettings(),
        *,
        clock: Clock = SYSTEM_CLOCK,
        on_state_change: StateHook | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._hook = on_state_change
        self._state = CircuitState.CLOSED
        self._failures = self._successes = self._probes = 0
        self._opened_at = 0.0
        self._generation = 0  # bumped on every transition; stale results are ignored
        self._notifications: set[asyncio.Future[Any]] = set()

    @property
    def state(self) -> CircuitState:
        """The current state; an open circuit whose rest is over turns half-open on ``allow()``."""
        return self._state

    def allow(self) -> bool:
        """True when a call may go ahead now."""
        return self._admit() is not None

    def record_success(self) -> None:
        if self._state is CircuitState.CLOSED:
            self._failures = 0  # failures must be consecutive to open
        elif self._state is CircuitState.HALF_OPEN:
            self._probes = max(0, self._probes - 1)
            self._successes += 1
            if self._successes >= self.settings.success_threshold:
                self._move(CircuitState.CLOSED)

    def record_failure(self) -> None:
        if self._state is CircuitState.CLOSED:
            self._failures += 1
            if self._failures >= self.settings.failure_threshold:
                self._move(CircuitState.OPEN)
        elif self._state is CircuitState.HALF_OPEN:
            self._move(CircuitState.OPEN)
        # While open a failure changes nothing: the rest runs from when it opened.

    def release(self) -> None:
        """Give back a half-open probe slot whose call ended without a result."""
        if self._state is CircuitState.HALF_OPEN:
            self._probes = max(0, self._probes - 1)

    def reset(self) -> None:
        """Close the circuit and clear every counter, whatever the state."""
        self._failures = self._successes = self._probes = 0
        if self._state is not CircuitState.CLOSED:
            self._move(CircuitState.CLOSED)

    def retry_after(self) -> float:
        """Seconds until an open circuit admits a probe (0 when not open)."""
        if self._state is not CircuitState.OPEN:
            return 0.0
        rest_end = self._opened_at + self.settings.reset_timeout
        return max(0.0, rest_end - self._clock.monotonic())

    def _admit(self) -> int | None:
        """The generation the call is admitted in, or None when refused."""
        if self._state is CircuitState.OPEN and self.retry_after() <= 0:
            self._move(CircuitState.HALF_OPEN)
        if self._state is CircuitState.CLOSED:
            return self._generation
        if self._state is CircuitState.OPEN or self._probes >= self.settings.half_open_max_calls:
            return None
        self._probes += 1  # half-open: this call is a probe
        return self._generation

    def _finish(self, generation: int, success: bool | None) -> None:
        if generation != self._generation:
            return  # admitted before the last transition: its result is stale
        if success is None:
            self.release()
        elif success:
            self.record_success()
        else:
            self.record_failure()

    def _move(self, new: CircuitState) -> None:
        old, self._state = self._state, new
        self._failures = self._successes = self._probes = 0
        self._generation += 1
        if new is CircuitState.OPEN:
            self._opened_at = self._clock.monotonic()
        self._notify(old, new)  # last: the hook sees a consistent breaker

    def _notify(self, old: CircuitState, new: CircuitState) -> None:
        if self._hook is None:
            return
        try:
            result = self._hook(old, new)
        except Exception:  # a broken hook must not break the breaker
            logger.exception("on_state_change hook failed")
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._notifications.add(task)
            task.add_done_callback(self._notified_one)

    def _notified_one(self, task: asyncio.Future[Any]) -> None:
        self._notifications.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("on_state_change hook failed", exc_info=error)

    async def _notified(self) -> None:
        """Wait for async hooks scheduled so far."""
        while self._notifications:
            await asyncio.wait(tuple(self._notifications))

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(state={self._state.value}, failures={self._failures}, "
            f"successes={self._successes}, probes={self._probes}, "
            f"retry_after={self.retry_after():.3f})"
        )


def _downstream_failure(error: BaseException) -> bool:
    return not is_permanent(error) and not is_released(error)


class CircuitBreakerApplier(Generic[T]):
    """Applies through ``breaker``: refuses while it is open, reports each result."""

    def __init__(self, inner: Applier[T], breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        self._inner = inner

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        if not records:  # an empty batch says nothing about the downstream
            return await self._inner.apply(records)
        breaker = self.breaker
        generation = breaker._admit()
        if generation is None:
            outcome = self._refused(records)
        else:
            success: bool | None = None  # None: cancelled, give the slot back
            try:
                outcome = await self._attempt(records)
                success = not self._failed(outcome, len(records))
            finally:
                breaker._finish(generation, success)
        if breaker._notifications:
            await breaker._notified()
        return outcome

    async def _attempt(self, records: Sequence[T]) -> Outcome[T]:
        outcome = await attempt(self._inner, records)
        return outcome if outcome.error is None else outcome.reconcile(records)

    def _failed(self, outcome: Outcome[T], size: int) -> bool:
        if outcome.error is not None and not is_released(outcome.error):
            return True
        if not outcome.failed and not outcome.dead:
            return False
        bad = sum(1 for f in outcome.failed if _downstream_failure(f.error))
        bad += sum(1 for f in outcome.dead if _downstream_failure(f.error))
        return bad > self.breaker.settings.failure_ratio * size

    def _refused(self, records: Sequence[T]) -> Outcome[T]:
        wait = self.breaker.retry_after()
        error = CircuitOpenError(
            f"circuit breaker is {self.breaker.state.value}; retry in {wait:.3f} s",
            retry_after=wait,
        )
        # A release: no attempt was made, so none is counted.
        return Outcome(failed=tuple(Failure(r, error, 0) for r in records), error=error)

    def __repr__(self) -> str:
        return f"CircuitBreakerApplier({self._inner!r}, {self.breaker!r})"


def circuit_breaker(
    breaker: CircuitBreaker | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    on_state_change: StateHook | None = None,
    **settings: Any,
) -> AnyMiddleware:
    """Middleware guarding an applier with ``breaker``, or with a new one built
    from ``settings`` (the fields of :class:`BreakerSettings`, same defaults).

    Every applier this middleware wraps shares the one breaker.
    """
    if breaker is not None and (settings or on_state_change or clock is not SYSTEM_CLOCK):
        raise ConfigurationError("pass either a built breaker or its settings, not both")
    shared = breaker or CircuitBreaker(
        _settings(settings), clock=clock, on_state_change=on_state_change
    )

    def wrap(inner: Applier[T], /) -> Applier[T]:
        return CircuitBreakerApplier(inner, shared)

    return wrap


def _settings(values: dict[str, Any]) -> BreakerSettings:
    known = {f.name for f in dataclasses.fields(BreakerSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigurationError(f"unknown breaker settings {unknown}; known: {sorted(known)}")
    return BreakerSettings(**values)
