from __future__ import annotations

from collections.abc import Sequence

from relaybox.core.backoff import RetryPolicy
from relaybox.core.errors import CircuitOpenError, PermanentError, TemporaryError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.middleware.circuit_breaker import BreakerSettings, CircuitState
from relaybox.pipeline.resilient import resilient
from relaybox.testing import FakeClock


class Down:
    """A downstream that fails every record it is given."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    async def apply(self, records: Sequence[str], /) -> Outcome[str]:
        self.calls += 1
        return Outcome(failed=[Failure(r, self.error) for r in records])


async def test_c05_breaker_opens_when_downstream_fails_every_record() -> None:
    """The breaker built by resilient() counts dead-lettered records as downstream failures
    and opens when every record fails, then refuses batches without calling downstream."""
    down = Down(TemporaryError("down"))
    stack = resilient(
        down,
        retry=RetryPolicy(attempts=1),
        breaker=BreakerSettings(failure_threshold=3),
        clock=FakeClock(),
    )
    for batch in (["a"], ["b"], ["c"]):
        outcome = await stack.apply(batch)
        assert [f.record for f in outcome.dead] == batch
    assert stack.breaker.state is CircuitState.OPEN
    refused = await stack.apply(["d"])
    assert isinstance(refused.error, CircuitOpenError)
    assert down.calls == 3


async def test_c05_breaker_ignores_permanent_record_failures() -> None:
    """Records rejected as permanently invalid are dead-lettered without opening the
    breaker: they say nothing about the downstream's health."""
    stack = resilient(
        Down(PermanentError("invalid")),
        breaker=BreakerSettings(failure_threshold=1),
        clock=FakeClock(),
    )
    await stack.apply(["a", "b"])
    assert stack.breaker.state is CircuitState.CLOSED
