from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from relaybox.core.errors import (
    ConfigurationError,
    KeyBlockedError,
    PermanentError,
    ReleasedError,
    ShutdownReleasedError,
)
from relaybox.core.outcome import Failure, Outcome
from relaybox.core.stopping import stop_signal
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.ordering import OrderedApplier, ordered
from relaybox.testing import settle


class Down(Exception):
    pass


class Downstream:
    """Delivers records except ``failing`` (failed) and ``dead`` ones; logs every call."""

    def __init__(self, failing: set[str] | None = None, dead: set[str] | None = None) -> None:
        self.failing = failing or set()
        self.dead = dead or set()
        self.calls: list[list[str]] = []

    async def apply(self, records: Sequence[str], /) -> Outcome[str]:
        self.calls.append(list(records))
        return Outcome(
            delivered=[r for r in records if r not in self.failing and r not in self.dead],
            failed=[Failure(r, Down(r)) for r in records if r in self.failing],
            dead=[Failure(r, PermanentError(r)) for r in records if r in self.dead],
        )


def entity(record: str) -> str | None:
    """``"a:1"`` has key ``"a"``; ``"-:1"`` has no key."""
    key = record.split(":", maxsplit=1)[0]
    return None if key == "-" else key


async def test_records_of_one_key_are_applied_one_per_call_in_order() -> None:
    inner = Downstream()
    records = ["a:1", "b:1", "a:2", "a:3", "b:2"]
    outcome = await ordered(entity)(inner).apply(records)
    assert all(len(call) == 1 for call in inner.calls)
    applied = [call[0] for call in inner.calls]
    assert [r for r in applied if r.startswith("a")] == ["a:1", "a:2", "a:3"]
    assert [r for r in applied if r.startswith("b")] == ["b:1", "b:2"]
    assert sorted(outcome.delivered) == sorted(records)


async def test_next_record_of_a_key_waits_until_the_previous_one_settled() -> None:
    gates = {r: asyncio.Event() for r in ("a:1", "a:2")}
    started: list[str] = []

    async def slow(records: Sequence[str]) -> Outcome[str]:
        started.append(records[0])
        await gates[records[0]].wait()
        return Outcome(delivered=tuple(records))

    task = asyncio.create_task(ordered(entity)(applier(slow)).apply(["a:1", "a:2"]))
    await settle()
    assert started == ["a:1"]
    gates["a:1"].set()
    await settle()
    assert started == ["a:1", "a:2"]
    gates["a:2"].set()
    assert list((await task).delivered) == ["a:1", "a:2"]


async def test_different_keys_are_applied_concurrently() -> None:
    a_started, b_started = asyncio.Event(), asyncio.Event()

    async def cross(records: Sequence[str]) -> Outcome[str]:
        mine, other = (a_started, b_started) if records[0] == "a:1" else (b_started, a_started)
        mine.set()
        await other.wait()
        return Outcome(delivered=tuple(records))

    task = asyncio.create_task(ordered(entity)(applier(cross)).apply(["a:1", "b:1"]))
    await settle()
    assert task.done()
    assert sorted(task.result().delivered) == ["a:1", "b:1"]


async def test_at_most_max_concurrent_keys_are_applied_at_once() -> None:
    in_flight = 0
    peak = 0
    release = asyncio.Event()

    async def hold(records: Sequence[str]) -> Outcome[str]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        return Outcome(delivered=tuple(records))

    records = [f"{key}:1" for key in "abcdef"]
    task = asyncio.create_task(ordered(entity, max_concurrent_keys=2)(applier(hold)).apply(records))
    await settle()
    assert in_flight == 2
    release.set()
    outcome = await task
    assert peak == 2
    assert sorted(outcome.delivered) == sorted(records)


async def test_failure_blocks_the_later_records_of_its_key_only() -> None:
    inner = Downstream(failing={"a:1"})
    outcome = await ordered(entity)(inner).apply(["a:1", "b:1", "a:2", "b:2", "a:3"])
    assert ["a:2"] not in inner.calls
    assert ["a:3"] not in inner.calls
    assert sorted(outcome.delivered) == ["b:1", "b:2"]
    failures = {f.record: f for f in outcome.failed}
    assert isinstance(failures["a:1"].error, Down)
    for blocked in ("a:2", "a:3"):
        assert isinstance(failures[blocked].error, KeyBlockedError)
        assert isinstance(failures[blocked].error, ReleasedError)
        assert failures[blocked].attempts == 0
    assert outcome.error is None


async def test_fatal_error_of_a_call_fails_the_record_and_blocks_its_key() -> None:
    error = Down("connection lost")

    async def broken(records: Sequence[str]) -> Outcome[str]:
        return Outcome(error=error) if records[0] == "a:1" else Outcome(delivered=records)

    outcome = await ordered(entity)(applier(broken)).apply(["a:1", "a:2", "b:1"])
    assert outcome.error is None
    assert list(outcome.delivered) == ["b:1"]
    failures = {f.record: f.error for f in outcome.failed}
    assert failures["a:1"] is error
    assert isinstance(failures["a:2"], KeyBlockedError)


async def test_raised_error_fails_the_record_and_blocks_its_key() -> None:
    async def raising(records: Sequence[str]) -> Outcome[str]:
        raise Down("crashed")

    outcome = await ordered(entity)(applier(raising)).apply(["a:1", "a:2"])
    errors = [type(f.error) for f in outcome.failed]
    assert errors == [Down, KeyBlockedError]


async def test_dead_record_does_not_block_its_key() -> None:
    inner = Downstream(dead={"a:1"})
    outcome = await ordered(entity)(inner).apply(["a:1", "a:2"])
    assert [f.record for f in outcome.dead] == ["a:1"]
    assert list(outcome.delivered) == ["a:2"]
    assert not outcome.failed


async def test_records_without_a_key_are_applied_together_in_one_call() -> None:
    inner = Downstream()
    outcome = await ordered(entity)(inner).apply(["-:1", "a:1", "-:2", "-:3"])
    assert ["-:1", "-:2", "-:3"] in inner.calls
    assert sorted(outcome.delivered) == sorted(["-:1", "a:1", "-:2", "-:3"])


async def test_fatal_error_of_the_unordered_call_fails_its_records_only() -> None:
    error = Down("down")

    async def sink(records: Sequence[str]) -> Outcome[str]:
        if records[0].startswith("-"):
            return Outcome(delivered=records[:1], error=error)
        return Outcome(delivered=tuple(records))

    outcome = await ordered(entity)(applier(sink)).apply(["-:1", "-:2", "a:1"])
    assert outcome.error is None
    assert sorted(outcome.delivered) == ["-:1", "a:1"]
    assert [(f.record, f.error) for f in outcome.failed] == [("-:2", error)]


async def test_stop_signal_releases_keys_not_started_and_the_rest_of_a_started_key() -> None:
    stopping = asyncio.Event()
    applied: list[str] = []

    async def stop_on_first(records: Sequence[str]) -> Outcome[str]:
        applied.extend(records)
        stopping.set()
        return Outcome(delivered=tuple(records))

    middleware = ordered(entity, max_concurrent_keys=1)
    with stop_signal(stopping):
        outcome = await middleware(applier(stop_on_first)).apply(["a:1", "a:2", "b:1"])
    assert applied == ["a:1"]
    assert list(outcome.delivered) == ["a:1"]
    assert sorted(f.record for f in outcome.failed) == ["a:2", "b:1"]
    assert all(isinstance(f.error, ShutdownReleasedError) for f in outcome.failed)
    assert not outcome.dead


async def test_key_function_error_fails_only_that_record() -> None:
    def key(record: str) -> str:
        if record == "bad":
            raise ValueError("no key")
        return record[0]

    inner = Downstream()
    outcome = await ordered(key)(inner).apply(["a:1", "bad"])
    assert list(outcome.delivered) == ["a:1"]
    assert [f.record for f in outcome.failed] == ["bad"]
    assert inner.calls == [["a:1"]]


async def test_async_key_function_is_awaited() -> None:
    async def key(record: str) -> str:
        return record[0]

    inner = Downstream(failing={"a:1"})
    outcome = await ordered(key)(inner).apply(["a:1", "a:2"])
    assert [type(f.error) for f in outcome.failed] == [Down, KeyBlockedError]


async def test_empty_batch_calls_nothing() -> None:
    inner = Downstream()
    assert (await ordered(entity)(inner).apply([])).count == 0
    assert inner.calls == []


@pytest.mark.parametrize("limit", [0, -1, 2.0, True])
def test_invalid_max_concurrent_keys_is_a_configuration_error(limit: object) -> None:
    with pytest.raises(ConfigurationError, match="max_concurrent_keys must be a positive int"):
        ordered(entity, max_concurrent_keys=limit)  # type: ignore[arg-type]


def test_non_callable_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="key must be a function"):
        ordered("id")  # type: ignore[arg-type]


async def test_repr_shows_the_limit_and_active_keys() -> None:
    release = asyncio.Event()

    async def hold(records: Sequence[str]) -> Outcome[str]:
        await release.wait()
        return Outcome(delivered=tuple(records))

    wrapped = OrderedApplier(applier(hold), entity, max_concurrent_keys=5)
    task = asyncio.create_task(wrapped.apply(["a:1", "b:1", "c:1"]))
    await settle()
    assert "max_concurrent_keys=5" in repr(wrapped)
    assert "active_keys=3" in repr(wrapped)
    release.set()
    await task
    assert "active_keys=0" in repr(wrapped)


async def test_failure_after_a_stop_releases_the_rest_of_its_key_for_the_stop() -> None:
    """A head handed back by an inner retry at shutdown releases the rest of its key
    with ShutdownReleasedError, not KeyBlockedError (found by test_composition)."""
    stopping = asyncio.Event()

    async def stop_and_release(records: Sequence[str]) -> Outcome[str]:
        stopping.set()  # the stop lands while the inner retry waits
        return Outcome.released(records)

    with stop_signal(stopping):
        outcome = await ordered(entity)(applier(stop_and_release)).apply(["a:1", "a:2", "a:3"])
    assert [f.record for f in outcome.failed] == ["a:1", "a:2", "a:3"]
    assert all(isinstance(f.error, ShutdownReleasedError) for f in outcome.failed)
    assert all(f.attempts == 0 for f in outcome.failed)
