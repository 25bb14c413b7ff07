from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from relaybox.core.errors import ValidationError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.health import HealthCheck, health_check
from relaybox.pipeline.middleware.validation import Validator, not_empty, positive, validate
from relaybox.testing import FakeClock, ScriptedApplier


@dataclass
class Item:
    name: str
    qty: int


def test_c22_failure_without_an_error_keeps_the_last_real_error() -> None:
    """Recording a failure with no error leaves the last real error in place."""
    health = HealthCheck(clock=FakeClock())
    real = ConnectionError("refused")
    health.record_failure(1, real)
    health.record_failure(1)
    assert health.last_error is real
    assert health.details().last_error is real


async def test_c22_health_middleware_records_the_failed_records_error() -> None:
    """A call whose records mostly failed reports their error to the health check, not None."""
    refused = ConnectionError("refused")

    async def inner(records: Sequence[str]) -> Outcome[str]:
        return Outcome(failed=[Failure(r, refused) for r in records])

    health = HealthCheck(clock=FakeClock())
    await health_check(health)(applier(inner)).apply(["a", "b"])
    assert health.last_error is refused


async def test_c22_validation_keeps_every_reason() -> None:
    """An invalid record's error lists the reason of every validator that rejected it."""
    check_name: Validator[Item] = not_empty(lambda r: r.name, "name")
    check_qty: Validator[Item] = positive(lambda r: r.qty, "qty")
    outcome = await validate(check_name, check_qty)(ScriptedApplier[Item]()).apply([Item("", 0)])
    error = outcome.failed[0].error
    assert isinstance(error, ValidationError)
    assert error.reasons == ("name is required", "qty must be positive")
    assert "name is required; qty must be positive" in str(error)
