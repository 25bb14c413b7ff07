from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Sequence

import pytest

from relaybox.core.errors import ConfigurationError
from relaybox.core.outcome import Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.recovery import recover


class Boom(Exception):
    pass


async def exploding(records: Sequence[str]) -> Outcome[str]:
    raise Boom(f"cannot apply {len(records)} records")


async def test_an_exception_fails_every_record_with_that_exception() -> None:
    records = ["a", "b"]
    outcome = await recover()(applier(exploding)).apply(records)
    assert isinstance(outcome.error, Boom)
    assert [f.record for f in outcome.failed] == records
    assert all(f.error is outcome.error for f in outcome.failed)
    assert (outcome.delivered, outcome.dead) == ((), ())


async def test_the_exception_keeps_its_message_and_traceback() -> None:
    outcome = await recover()(applier(exploding)).apply(["a", "b"])
    assert str(outcome.error) == "cannot apply 2 records"
    assert outcome.error is not None
    frames = traceback.extract_tb(outcome.error.__traceback__)
    assert "exploding" in [frame.name for frame in frames]


async def test_a_sync_on_error_is_called_with_the_exception() -> None:
    seen: list[BaseException] = []
    outcome = await recover(seen.append)(applier(exploding)).apply(["a"])
    assert seen == [outcome.error]


async def test_an_async_on_error_is_awaited() -> None:
    seen: list[BaseException] = []

    async def on_error(error: BaseException) -> None:
        seen.append(error)

    outcome = await recover(on_error)(applier(exploding)).apply(["a"])
    assert seen == [outcome.error]


async def test_a_raising_on_error_is_logged_and_the_outcome_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(error: BaseException) -> None:
        raise RuntimeError("alerting down")

    with caplog.at_level(logging.ERROR, logger="relaybox.recovery"):
        outcome = await recover(broken)(applier(exploding)).apply(["a"])
    assert isinstance(outcome.error, Boom)
    assert len(caplog.records) == 1


async def test_a_successful_outcome_passes_through_unchanged() -> None:
    result: Outcome[str] = Outcome(delivered=("a",))

    async def fixed(records: Sequence[str]) -> Outcome[str]:
        return result

    assert await recover()(applier(fixed)).apply(["a"]) is result


@pytest.mark.parametrize("error", [asyncio.CancelledError, KeyboardInterrupt, SystemExit])
async def test_base_exceptions_are_not_caught(error: type[BaseException]) -> None:
    async def raising(records: Sequence[str]) -> Outcome[str]:
        raise error

    with pytest.raises(error):
        await recover()(applier(raising)).apply(["a"])


async def test_repr_shows_how_many_errors_were_recovered() -> None:
    wrapped = recover()(applier(exploding))
    await wrapped.apply(["a"])
    assert "recovered=1, last_error=Boom('cannot apply 1 records')" in repr(wrapped)


def test_a_non_callable_on_error_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="on_error"):
        recover("log")  # type: ignore[arg-type]
