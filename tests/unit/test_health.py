from __future__ import annotations

from collections.abc import Sequence

import pytest

from relaybox.core.errors import ConfigurationError, PermanentError, ShutdownReleasedError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.health import HealthCheck, HealthStatus, health_check
from relaybox.testing import FakeClock, ScriptedApplier


def test_status_follows_consecutive_failures() -> None:
    health = HealthCheck(degraded_after=2, unhealthy_after=3, clock=FakeClock())
    assert health.status is HealthStatus.HEALTHY
    health.record_failure(1)
    assert health.is_healthy
    health.record_failure(1)
    assert health.details().status is HealthStatus.DEGRADED
    health.record_failure(1)
    assert health.details().status is HealthStatus.UNHEALTHY
    assert not health.is_healthy


def test_one_success_makes_it_healthy_again() -> None:
    health = HealthCheck(clock=FakeClock())
    for _ in range(10):
        health.record_failure(1)
    assert health.status is HealthStatus.UNHEALTHY
    health.record_success(5)
    assert health.details().status is HealthStatus.HEALTHY
    assert health.consecutive_errors == 0
    assert health.consecutive_successes == 1


def test_details_snapshot_counts_and_times() -> None:
    clock = FakeClock()
    health = HealthCheck(clock=clock)
    error = RuntimeError("down")
    health.record_success(7)
    health.record_failure(2, error)
    details = health.details()
    assert details.status is HealthStatus.HEALTHY
    assert details.total_processed == 7
    assert details.total_failed == 2
    assert details.last_success_at == clock.now()
    assert details.last_error_at == clock.now()
    assert details.last_error is error
    assert details.consecutive_errors == 1
    assert details.consecutive_successes == 0


def test_status_values_are_their_names() -> None:
    assert [s.value for s in HealthStatus] == ["healthy", "degraded", "unhealthy"]
    assert str(HealthStatus.DEGRADED) == "degraded"


@pytest.mark.parametrize(("degraded", "unhealthy"), [(0, 10), (5, 4), (-1, 3)])
def test_invalid_thresholds_raise_configuration_error(degraded: int, unhealthy: int) -> None:
    with pytest.raises(ConfigurationError, match="degraded_after"):
        HealthCheck(degraded, unhealthy)


def test_repr_shows_live_status() -> None:
    health = HealthCheck(degraded_after=1, clock=FakeClock())
    health.record_failure(3)
    assert "status=degraded" in repr(health)
    assert "consecutive_errors=1" in repr(health)


# -- the middleware -----------------------------------------------------------


async def test_more_failed_than_delivered_records_a_failure_with_the_real_error() -> None:
    inner = ScriptedApplier[int](fail_when=lambda r: r > 1)
    wrapped = health_check(HealthCheck(clock=FakeClock()))(inner)
    await wrapped.apply([1, 2, 3])
    health: HealthCheck = wrapped.health  # type: ignore[attr-defined]
    assert health.consecutive_errors == 1
    assert health.total_failed == 2
    assert str(health.last_error) == "failed: 2"


async def test_as_many_delivered_as_failed_is_a_success() -> None:
    inner = ScriptedApplier[int](fail_when=lambda r: r == 2)
    wrapped = health_check(HealthCheck(clock=FakeClock()))(inner)
    await wrapped.apply([1, 2])
    health: HealthCheck = wrapped.health  # type: ignore[attr-defined]
    assert health.consecutive_successes == 1
    assert health.total_processed == 1


async def test_dead_records_count_as_failures() -> None:
    invalid = PermanentError("invalid")

    async def inner(records: Sequence[int]) -> Outcome[int]:
        return Outcome(dead=[Failure(r, invalid) for r in records])

    wrapped = health_check(HealthCheck(clock=FakeClock()))(applier(inner))
    await wrapped.apply([1])
    health: HealthCheck = wrapped.health  # type: ignore[attr-defined]
    assert health.consecutive_errors == 1
    assert health.last_error is invalid


async def test_fatal_error_is_a_failure_counting_every_undelivered_record() -> None:
    boom = RuntimeError("down")

    async def inner(records: Sequence[int]) -> Outcome[int]:
        return Outcome(delivered=[records[0]], error=boom)

    wrapped = health_check(HealthCheck(clock=FakeClock()))(applier(inner))
    await wrapped.apply([1, 2, 3])
    health: HealthCheck = wrapped.health  # type: ignore[attr-defined]
    assert health.consecutive_errors == 1
    assert health.total_failed == 2
    assert health.last_error is boom


async def test_raised_exception_is_recorded_and_propagates() -> None:
    boom = RuntimeError("down")

    async def inner(records: Sequence[int]) -> Outcome[int]:
        raise boom

    wrapped = health_check(HealthCheck(clock=FakeClock()))(applier(inner))
    with pytest.raises(RuntimeError):
        await wrapped.apply([1, 2])
    health: HealthCheck = wrapped.health  # type: ignore[attr-defined]
    assert health.last_error is boom
    assert health.total_failed == 2


async def test_released_records_are_not_downstream_failures() -> None:
    released = ShutdownReleasedError()

    async def inner(records: Sequence[int]) -> Outcome[int]:
        return Outcome(delivered=[records[0]], failed=[Failure(r, released) for r in records[1:]])

    wrapped = health_check(HealthCheck(clock=FakeClock()))(applier(inner))
    await wrapped.apply([1, 2, 3])
    health: HealthCheck = wrapped.health  # type: ignore[attr-defined]
    assert health.consecutive_successes == 1
    assert health.total_failed == 0


async def test_a_call_that_attempted_nothing_leaves_health_unchanged() -> None:
    released = ShutdownReleasedError()

    async def inner(records: Sequence[int]) -> Outcome[int]:
        return Outcome(failed=[Failure(r, released) for r in records])

    wrapped = health_check(HealthCheck(clock=FakeClock()))(applier(inner))
    await wrapped.apply([1, 2])
    await wrapped.apply([])
    details = wrapped.health.details()  # type: ignore[attr-defined]
    assert (details.consecutive_errors, details.consecutive_successes) == (0, 0)


async def test_default_health_is_shared_by_every_wrapped_applier() -> None:
    middleware = health_check()
    one = middleware(ScriptedApplier[int]())
    two = middleware(ScriptedApplier[int]())
    await one.apply([1])
    await two.apply([2])
    assert one.health is two.health  # type: ignore[attr-defined]
    assert one.health.total_processed == 2  # type: ignore[attr-defined]


def test_health_must_be_a_health_check() -> None:
    with pytest.raises(ConfigurationError, match="HealthCheck"):
        health_check("healthy")  # type: ignore[arg-type]


async def test_a_call_refused_by_an_inner_breaker_leaves_health_unchanged() -> None:
    """The refusal is a fatal release: nothing was attempted, so it is no failure."""
    from relaybox.pipeline.middleware.circuit_breaker import circuit_breaker

    clock = FakeClock()
    broken = ScriptedApplier[int](fail_when=lambda r: True)
    wrapped = health_check(HealthCheck(clock=clock))(
        circuit_breaker(clock=clock, failure_threshold=1)(broken)
    )
    await wrapped.apply([1])  # a real failure opens the breaker
    await wrapped.apply([2])  # refused: nothing attempted
    details = wrapped.health.details()  # type: ignore[attr-defined]
    assert len(broken.calls) == 1
    assert (details.consecutive_errors, details.total_failed) == (1, 1)
