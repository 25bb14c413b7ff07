from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from relaybox.core.errors import (
    ConfigurationError,
    PermanentError,
    ReleasedError,
    ShutdownReleasedError,
)
from relaybox.core.outcome import Failure, Outcome
from relaybox.core.stopping import stop_signal
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.batch_split import BatchSplitter, split_batches


class Down(Exception):
    pass


class Recorder:
    """Delivers every record and remembers each call's records."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def apply(self, records: Sequence[str], /) -> Outcome[str]:
        self.calls.append(list(records))
        return Outcome(delivered=tuple(records))


def names(count: int) -> list[str]:
    return [f"r{i}" for i in range(count)]


async def test_splits_into_chunks_of_at_most_max_size_in_input_order() -> None:
    inner = Recorder()
    records = names(7)
    outcome = await split_batches(3)(inner).apply(records)
    assert inner.calls == [records[0:3], records[3:6], records[6:7]]
    assert list(outcome.delivered) == records
    assert outcome.error is None


async def test_batch_that_fits_is_passed_through_in_one_call() -> None:
    inner = Recorder()
    records = names(3)
    outcome = await split_batches(3)(inner).apply(records)
    assert inner.calls == [records]
    assert list(outcome.delivered) == records


async def test_failed_and_dead_entries_of_chunks_pass_through_untouched() -> None:
    failure = Failure("r1", Down("r1"), attempts=3)
    dead = Failure("r2", PermanentError("r2"))

    async def sort(records: Sequence[str]) -> Outcome[str]:
        return Outcome(
            delivered=[r for r in records if r not in ("r1", "r2")],
            failed=[failure] if "r1" in records else [],
            dead=[dead] if "r2" in records else [],
        )

    outcome = await split_batches(2)(applier(sort)).apply(names(4))
    assert list(outcome.delivered) == ["r0", "r3"]
    assert list(outcome.failed) == [failure]
    assert list(outcome.dead) == [dead]


async def test_fatal_error_at_a_chunk_keeps_earlier_deliveries_and_releases_the_rest() -> None:
    error = Down("connection lost")
    calls: list[list[str]] = []

    async def second_chunk_breaks(records: Sequence[str]) -> Outcome[str]:
        calls.append(list(records))
        if len(calls) == 2:
            return Outcome(delivered=records[:1], error=error)
        return Outcome(delivered=tuple(records))

    records = names(6)
    outcome = await split_batches(2)(applier(second_chunk_breaks)).apply(records)
    assert len(calls) == 2
    assert list(outcome.delivered) == ["r0", "r1", "r2"]
    assert [f.record for f in outcome.failed] == ["r3", "r4", "r5"]
    sent, *rest = outcome.failed
    assert sent.error is error  # r3 was in the failed chunk
    for failure in rest:  # r4 and r5 were never sent: released, caused by the error
        assert isinstance(failure.error, ReleasedError)
        assert failure.error.__cause__ is error
        assert failure.attempts == 0
    assert outcome.error is error


async def test_raised_error_at_a_chunk_becomes_the_fatal_error() -> None:
    error = Down("crashed")
    calls = 0

    async def second_chunk_raises(records: Sequence[str]) -> Outcome[str]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise error
        return Outcome(delivered=tuple(records))

    outcome = await split_batches(2)(applier(second_chunk_raises)).apply(names(5))
    assert list(outcome.delivered) == ["r0", "r1"]
    assert [f.record for f in outcome.failed] == ["r2", "r3", "r4"]
    assert outcome.error is error


async def test_stop_signal_between_chunks_releases_the_remaining_records() -> None:
    stopping = asyncio.Event()
    inner = Recorder()

    async def stop_after_first_chunk(records: Sequence[str]) -> Outcome[str]:
        stopping.set()
        return await inner.apply(records)

    with stop_signal(stopping):
        outcome = await split_batches(2)(applier(stop_after_first_chunk)).apply(names(5))
    assert inner.calls == [["r0", "r1"]]
    assert list(outcome.delivered) == ["r0", "r1"]
    assert [f.record for f in outcome.failed] == ["r2", "r3", "r4"]
    assert all(isinstance(f.error, ShutdownReleasedError) for f in outcome.failed)
    assert all(f.attempts == 0 for f in outcome.failed)
    assert outcome.error is None


@pytest.mark.parametrize("max_size", [0, -1, 1.5, True, "10"])
def test_invalid_max_size_is_a_configuration_error(max_size: object) -> None:
    with pytest.raises(ConfigurationError, match="max_size must be a positive int"):
        split_batches(max_size)  # type: ignore[arg-type]


async def test_repr_shows_size_and_chunks_applied() -> None:
    splitter = BatchSplitter(Recorder(), 2)
    await splitter.apply(names(3))
    assert "max_size=2" in repr(splitter)
    assert "chunks_applied=2" in repr(splitter)


async def test_a_crash_behind_route_dead_letters_nothing() -> None:
    """route turns a group's fatal error into per-record failures. Neither the
    record whose call crashed (flagged fatal) nor the chunk never sent (released)
    may become a dead letter: an outage says nothing about the records."""
    from relaybox.pipeline.middleware.dead_letter import InMemoryDeadLetterQueue, dead_letter
    from relaybox.pipeline.middleware.routing import route

    crash = Down("crashed")
    sent: list[str] = []

    async def first_call_crashes(records: Sequence[str]) -> Outcome[str]:
        sent.extend(records)
        raise crash

    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    split = split_batches(1)(applier(first_call_crashes))
    stack = dead_letter(queue)(route(lambda r: "x", {"x": split}))
    outcome = await stack.apply(["r0", "r1"])
    assert sent == ["r0"]
    assert await queue.count() == 0
    assert list(outcome.dead) == []
    crashed, never_sent = outcome.failed
    assert (crashed.record, crashed.error, crashed.fatal) == ("r0", crash, True)
    assert never_sent.record == "r1"
    assert isinstance(never_sent.error, ReleasedError)
