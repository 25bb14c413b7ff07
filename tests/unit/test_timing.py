from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence

import pytest

from relaybox.core.errors import ConfigurationError
from relaybox.core.outcome import Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.timing import timed
from relaybox.ports.applier import Applier
from relaybox.testing.clock import FakeClock


class Boom(Exception):
    pass


def sleeping(clock: FakeClock, seconds: float, *, fail: bool = False) -> Applier[str]:
    async def apply(records: Sequence[str]) -> Outcome[str]:
        await clock.sleep(seconds)
        if fail:
            raise Boom("down")
        return Outcome.all_delivered(records)

    return applier(apply)


async def run(
    clock: FakeClock, call: Coroutine[object, object, Outcome[str]], seconds: float
) -> asyncio.Task[Outcome[str]]:
    """Start ``call``, let it fall asleep on ``clock`` and move time by ``seconds``."""
    task = asyncio.create_task(call)
    await clock.wait_for_sleepers(1)
    await clock.advance(seconds)
    return task


async def test_reports_the_duration_of_each_apply_in_seconds() -> None:
    clock = FakeClock()
    durations: list[float] = []
    wrapped = timed(durations.append, clock=clock)(sleeping(clock, 1.5))
    task = await run(clock, wrapped.apply(["a"]), 1.5)
    assert list((await task).delivered) == ["a"]
    assert durations == [1.5]


async def test_reports_once_when_the_inner_raises_and_the_exception_propagates() -> None:
    clock = FakeClock()
    durations: list[float] = []
    wrapped = timed(durations.append, clock=clock)(sleeping(clock, 3.0, fail=True))
    task = await run(clock, wrapped.apply(["a"]), 3.0)
    with pytest.raises(Boom):
        await task
    assert durations == [3.0]


async def test_an_async_callback_is_awaited() -> None:
    clock = FakeClock()
    durations: list[float] = []

    async def record(seconds: float) -> None:
        durations.append(seconds)

    wrapped = timed(record, clock=clock)(sleeping(clock, 0.25))
    await (await run(clock, wrapped.apply(["a"]), 0.25))
    assert durations == [0.25]


async def test_a_raising_callback_is_logged_and_the_outcome_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(seconds: float) -> None:
        raise Boom("metrics down")

    async def deliver(records: Sequence[str]) -> Outcome[str]:
        return Outcome.all_delivered(records)

    with caplog.at_level(logging.ERROR, logger="relaybox.timing"):
        outcome = await timed(broken)(applier(deliver)).apply(["a"])
    assert list(outcome.delivered) == ["a"]
    assert len(caplog.records) == 1


async def test_repr_shows_calls_and_last_duration() -> None:
    clock = FakeClock()
    wrapped = timed(lambda s: None, clock=clock)(sleeping(clock, 2.0))
    await (await run(clock, wrapped.apply(["a"]), 2.0))
    assert "calls=1, last_duration=2.0" in repr(wrapped)


def test_a_non_callable_callback_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="on_duration"):
        timed(None)  # type: ignore[arg-type]
