from __future__ import annotations

import asyncio
from collections.abc import Sequence

from relaybox.core.errors import CircuitOpenError
from relaybox.core.outcome import Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.circuit_breaker import (
    BreakerSettings,
    CircuitBreaker,
    CircuitBreakerApplier,
    CircuitState,
)
from relaybox.testing import FakeClock

SETTINGS = BreakerSettings(failure_threshold=2, reset_timeout=10.0, half_open_max_calls=2)


async def opened(clock: FakeClock, breaker: CircuitBreaker) -> None:
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN


async def test_c20_half_open_admits_a_bounded_number_of_probes() -> None:
    """A half-open breaker admits at most half_open_max_calls concurrent probes and refuses
    the rest until a probe returns."""
    clock = FakeClock()
    breaker = CircuitBreaker(SETTINGS, clock=clock)
    await opened(clock, breaker)
    await clock.advance(10.0)
    gate = asyncio.Event()
    calls = 0

    async def slow(records: Sequence[str]) -> Outcome[str]:
        nonlocal calls
        calls += 1
        await gate.wait()
        return Outcome.all_delivered(records)

    guarded = CircuitBreakerApplier(applier(slow), breaker)
    probes = [asyncio.ensure_future(guarded.apply([name])) for name in "abc"]
    await asyncio.sleep(0)
    refused = await probes[2]
    assert isinstance(refused.error, CircuitOpenError)
    assert calls == 2
    gate.set()
    await asyncio.gather(*probes[:2])
    assert breaker.state is CircuitState.CLOSED


async def test_c20_failure_while_open_does_not_extend_the_rest() -> None:
    """The open period runs from when the circuit opened; failures reported while open do
    not push it back."""
    clock = FakeClock()
    breaker = CircuitBreaker(SETTINGS, clock=clock)
    await opened(clock, breaker)
    await clock.advance(9.0)
    breaker.record_failure()
    await clock.advance(1.0)
    assert breaker.allow()
    assert breaker.state is CircuitState.HALF_OPEN


async def test_c20_reset_clears_counts_even_when_closed() -> None:
    """reset() clears the failure count also when the breaker is already closed."""
    breaker = CircuitBreaker(SETTINGS, clock=FakeClock())
    breaker.record_failure()
    breaker.reset()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED


async def test_c20_state_change_callback_may_call_the_breaker() -> None:
    """A state-change callback runs after the transition and may call the breaker itself,
    here resetting it, without deadlock or inconsistent state."""
    seen: list[tuple[CircuitState, CircuitState]] = []
    breaker: CircuitBreaker

    def on_change(old: CircuitState, new: CircuitState) -> None:
        seen.append((old, new))
        assert breaker.state is new
        if new is CircuitState.OPEN:
            breaker.reset()

    breaker = CircuitBreaker(SETTINGS, clock=FakeClock(), on_state_change=on_change)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()
    assert seen == [
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.CLOSED),
    ]
