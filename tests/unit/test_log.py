from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from relaybox.core.errors import ConfigurationError, PermanentError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.log import DONE, START, logged
from relaybox.testing.clock import FakeClock


class Boom(Exception):
    pass


async def mixed(records: Sequence[str]) -> Outcome[str]:
    return Outcome(
        delivered=records[:2],
        failed=[Failure(records[2], Boom("x"))],
        dead=[Failure(records[3], PermanentError("y"))],
    )


class CountingClock(FakeClock):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def monotonic(self) -> float:
        self.reads += 1
        return super().monotonic()


def events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [getattr(r, "event", "") for r in caplog.records]


async def test_logs_start_with_the_count_and_done_with_the_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="relaybox.apply")
    await logged(name="orders")(applier(mixed)).apply(["a", "b", "c", "d"])
    start, done = caplog.records
    assert events(caplog) == [START, DONE]
    assert (start.applier, start.count) == ("orders", 4)  # type: ignore[attr-defined]
    counts = (done.delivered, done.failed, done.dead, done.error)  # type: ignore[attr-defined]
    assert counts == (2, 1, 1, None)
    assert "delivered=2 failed=1 dead=1" in done.getMessage()


async def test_done_reports_the_duration_on_the_injected_clock(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()

    async def slow(records: Sequence[str]) -> Outcome[str]:
        await clock.sleep(2.5)
        return Outcome.all_delivered(records)

    caplog.set_level(logging.INFO, logger="relaybox.apply")
    task = asyncio.create_task(logged(clock=clock)(applier(slow)).apply(["a"]))
    await clock.wait_for_sleepers(1)
    await clock.advance(2.5)
    await task
    assert caplog.records[-1].duration == 2.5  # type: ignore[attr-defined]


async def test_failed_count_includes_records_missing_from_the_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fatal = Boom("fatal")

    async def partial(records: Sequence[str]) -> Outcome[str]:
        return Outcome(delivered=records[:1], error=fatal)

    caplog.set_level(logging.INFO, logger="relaybox.apply")
    await logged()(applier(partial)).apply(["a", "b", "c"])
    done = caplog.records[-1]
    assert (done.delivered, done.failed, done.error) == (1, 2, fatal)  # type: ignore[attr-defined]


async def test_an_inner_exception_is_logged_as_done_and_reraised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def raising(records: Sequence[str]) -> Outcome[str]:
        raise Boom("down")

    caplog.set_level(logging.INFO, logger="relaybox.apply")
    with pytest.raises(Boom) as raised:
        await logged()(applier(raising)).apply(["a", "b"])
    done = caplog.records[-1]
    assert events(caplog) == [START, DONE]
    assert (done.failed, done.error) == (2, raised.value)  # type: ignore[attr-defined]


async def test_logs_at_the_chosen_level_on_the_given_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("test.custom")
    caplog.set_level(logging.DEBUG, logger="test.custom")
    await logged(log, level=logging.DEBUG)(applier(mixed)).apply(["a", "b", "c", "d"])
    assert [(r.name, r.levelno) for r in caplog.records] == [("test.custom", logging.DEBUG)] * 2


async def test_a_disabled_logger_costs_no_clock_reads_and_no_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="relaybox.apply")
    clock = CountingClock()
    outcome = await logged(clock=clock)(applier(mixed)).apply(["a", "b", "c", "d"])
    assert outcome.count == 4
    assert clock.reads == 0
    assert caplog.records == []


@pytest.mark.parametrize("level", [-1, "INFO", True])
def test_an_invalid_level_is_rejected(level: object) -> None:
    with pytest.raises(ConfigurationError, match="logging level"):
        logged(level=level)  # type: ignore[arg-type]


def test_an_empty_name_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="name"):
        logged(name="")


def test_repr_shows_the_logger_and_level() -> None:
    wrapped = logged(level=logging.DEBUG)(applier(mixed))
    assert "logger='relaybox.apply', level=DEBUG" in repr(wrapped)
