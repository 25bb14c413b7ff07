"""The relay's outage breaker: when it opens, how long it pauses, what it logs."""

from __future__ import annotations

import asyncio
import logging

import pytest

from relaybox.core.backoff import Backoff
from relaybox.outbox.outage import Outage
from relaybox.testing import FakeClock

BACKOFF = Backoff(initial=1.0, max_delay=8.0, multiplier=2.0, jitter=0.0)


def outage(clock: FakeClock) -> Outage:
    return Outage(BACKOFF, clock, "relay-1")


def test_it_opens_only_when_nothing_was_delivered_and_something_was_unavailable() -> None:
    clock = FakeClock()
    breaker = outage(clock)
    breaker.record(delivered=3, unavailable=2, error="ConnectionError: x")
    assert not breaker.open
    breaker.record(delivered=0, unavailable=0, error=None)
    assert not breaker.open
    breaker.record(delivered=0, unavailable=5, error="ConnectionError: x")
    assert breaker.open


def test_the_pause_doubles_to_its_cap_and_a_delivery_closes_it() -> None:
    breaker = outage(FakeClock())
    pauses = []
    for _ in range(6):
        pauses.append(breaker.pause())
        breaker.record(delivered=0, unavailable=1, error="TimeoutError: t")
    assert pauses == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    breaker.record(delivered=1, unavailable=0, error=None)
    assert (breaker.open, breaker.pause(), breaker.outages) == (False, 1.0, 1)


async def test_wait_sleeps_out_the_rest_of_the_pause_on_the_clock() -> None:
    clock = FakeClock()
    breaker = outage(clock)
    breaker.record(delivered=0, unavailable=1, error="ConnectionError: x")
    breaker.record(delivered=0, unavailable=1, error="ConnectionError: x")  # pause now 2 s
    await clock.advance(0.5)
    waiting = asyncio.ensure_future(breaker.wait())
    await clock.wait_for_sleepers()
    assert clock.slept[-1] == pytest.approx(1.5)
    await clock.advance(1.5)
    await waiting
    await breaker.wait()  # due now: no sleep
    assert clock.slept[-1] == pytest.approx(1.5)


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="relaybox.relay")
    breaker = outage(FakeClock())
    for _ in range(5):
        breaker.record(delivered=0, unavailable=4, error="ConnectionRefusedError: no")
    breaker.record(delivered=4, unavailable=0, error=None)
    assert [(r.levelno, r.event) for r in caplog.records] == [  # type: ignore[attr-defined]
        (logging.WARNING, "destination.unavailable"),
        (logging.INFO, "destination.available"),
    ]
