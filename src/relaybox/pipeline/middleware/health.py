"""Health: judge a downstream by its recent apply calls.

A call fails when it ends with a fatal error or when more records failed (or
went dead) than were delivered; otherwise it succeeds. Released records
(handed back unattempted, e.g. at shutdown) are not downstream failures and are
left out, and a call that attempted nothing leaves the health unchanged: that
includes a call refused by an inner circuit breaker, whose fatal
:class:`~relaybox.core.errors.CircuitOpenError` is a release.

The status follows consecutive failed calls: ``degraded_after`` of them make
the downstream degraded, ``unhealthy_after`` unhealthy, and one success makes
it healthy again. The last real error is kept for inspection: a failure
reported without an error never erases it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import ConfigurationError, is_released
from relaybox.core.outcome import Outcome
from relaybox.ports.applier import AnyMiddleware, Applier

T = TypeVar("T")


class HealthStatus(enum.StrEnum):
    """How a downstream is doing."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class HealthDetails:
    """A snapshot of a :class:`HealthCheck`; times are wall-clock epoch seconds."""

    status: HealthStatus
    last_success_at: float | None
    last_error_at: float | None
    last_error: BaseException | None
    consecutive_errors: int
    consecutive_successes: int
    total_processed: int
    total_failed: int


class HealthCheck:
    """Counts successes and failures and derives a :class:`HealthStatus`.

    Defaults: degraded after 3 consecutive failures, unhealthy after 10
    (``0 < degraded_after <= unhealthy_after``). ``total_processed`` adds up the
    counts given to :meth:`record_success`, ``total_failed`` those given to
    :meth:`record_failure`.
    """

    def __init__(
        self, degraded_after: int = 3, unhealthy_after: int = 10, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        if not 0 < degraded_after <= unhealthy_after:
            raise ConfigurationError(
                "need 0 < degraded_after <= unhealthy_after, got "
                f"degraded_after={degraded_after!r}, unhealthy_after={unhealthy_after!r}"
            )
        self.degraded_after = degraded_after
        self.unhealthy_after = unhealthy_after
        self._clock = clock
        self.consecutive_errors = 0
        self.consecutive_successes = 0
        self.total_processed = 0
        self.total_failed = 0
        self.last_success_at: float | None = None
        self.last_error_at: float | None = None
        self.last_error: BaseException | None = None

    def record_success(self, count: int) -> None:
        """A call succeeded, delivering ``count`` records."""
        self.consecutive_errors = 0
        self.consecutive_successes += 1
        self.total_processed += count
        self.last_success_at = self._clock.now()

    def record_failure(self, count: int, error: BaseException | None = None) -> None:
        """A call failed for ``count`` records; ``error``, when given, becomes the last error."""
        self.consecutive_successes = 0
        self.consecutive_errors += 1
        self.total_failed += count
        self.last_error_at = self._clock.now()
        if error is not None:
            self.last_error = error

    @property
    def status(self) -> HealthStatus:
        if self.consecutive_errors >= self.unhealthy_after:
            return HealthStatus.UNHEALTHY
        if self.consecutive_errors >= self.degraded_after:
            return HealthStatus.DEGRADED
        return HealthStatus.HEALTHY

    @property
    def is_healthy(self) -> bool:
        return self.status is HealthStatus.HEALTHY

    def details(self) -> HealthDetails:
        return HealthDetails(
            status=self.status,
            last_success_at=self.last_success_at,
            last_error_at=self.last_error_at,
            last_error=self.last_error,
            consecutive_errors=self.consecutive_errors,
            consecutive_successes=self.consecutive_successes,
            total_processed=self.total_processed,
            total_failed=self.total_failed,
        )

    def __repr__(self) -> str:
        return (
            f"HealthCheck(status={self.status.value}, "
            f"consecutive_errors={self.consecutive_errors}, "
            f"total_processed={self.total_processed}, total_failed={self.total_failed}, "
            f"last_error={self.last_error!r})"
        )


class HealthCheckedApplier(Generic[T]):
    """Reports every call of ``inner`` to :attr:`health`; see :func:`health_check`."""

    def __init__(self, inner: Applier[T], health: HealthCheck) -> None:
        self._inner = inner
        self.health = health

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        try:
            outcome = await self._inner.apply(records)
        except Exception as exc:
            self.health.record_failure(len(records), exc)
            raise
        self._judge(outcome, len(records))
        return outcome

    def _judge(self, outcome: Outcome[T], total: int) -> None:
        released = 0
        first_error: BaseException | None = None
        for failure in outcome.failed:
            if is_released(failure.error):
                released += 1
            elif first_error is None:
                first_error = failure.error
        failed = len(outcome.failed) - released + len(outcome.dead)
        if first_error is None and outcome.dead:
            first_error = outcome.dead[0].error
        if outcome.error is not None and not is_released(outcome.error):
            # Records in no list count as failed with the fatal error.
            failed = max(failed, total - len(outcome.delivered) - released)
            self.health.record_failure(failed, outcome.error)
        elif failed > len(outcome.delivered):
            self.health.record_failure(failed, first_error)
        elif outcome.delivered:
            self.health.record_success(len(outcome.delivered))

    def __repr__(self) -> str:
        return f"HealthCheckedApplier({self._inner!r}, {self.health!r})"


def health_check(health: HealthCheck | None = None) -> AnyMiddleware:
    """Middleware reporting every apply call to ``health``.

    ``health`` defaults to a new :class:`HealthCheck` with its defaults, shared
    by every applier this middleware wraps; the wrapped applier exposes it as
    ``.health``.
    """
    if health is not None and not isinstance(health, HealthCheck):
        raise ConfigurationError(f"health must be a HealthCheck or None, not {health!r}")
    chosen = HealthCheck() if health is None else health

    def wrap(inner: Applier[T]) -> Applier[T]:
        return HealthCheckedApplier(inner, chosen)

    return wrap
