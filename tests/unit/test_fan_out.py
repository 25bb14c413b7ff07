from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from relaybox.core.errors import (
    ConfigurationError,
    FanOutError,
    PermanentError,
    ShutdownReleasedError,
    TemporaryError,
)
from relaybox.core.outcome import Failure, Outcome
from relaybox.core.stopping import stop_signal
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.fan_out import FanOut, PermanentFanOutError, fan_out
from relaybox.ports.applier import Applier
from relaybox.testing import settle


class Down(TemporaryError):
    pass


@dataclass(frozen=True)
class Event:
    id: int


class Destination:
    """Delivers records except those in ``failing`` (failed) or ``dead`` (dead-lettered)."""

    def __init__(self, failing: set[str] | None = None, dead: set[str] | None = None) -> None:
        self.failing = failing or set()
        self.dead = dead or set()
        self.calls: list[list[str]] = []

    async def apply(self, records: Sequence[str], /) -> Outcome[str]:
        self.calls.append(list(records))
        return Outcome(
            delivered=[r for r in records if r not in self.failing and r not in self.dead],
            failed=[Failure(r, Down(r), attempts=2) for r in records if r in self.failing],
            dead=[Failure(r, PermanentError(r)) for r in records if r in self.dead],
        )


async def test_record_is_delivered_when_every_destination_delivers_it() -> None:
    a, b = Destination(), Destination()
    records = ["r1", "r2"]
    outcome = await fan_out({"a": a, "b": b}).apply(records)
    assert list(outcome.delivered) == records
    assert a.calls == b.calls == [records]


async def test_destinations_are_applied_concurrently_by_default() -> None:
    a_started, b_started = asyncio.Event(), asyncio.Event()

    async def a(records: Sequence[str]) -> Outcome[str]:
        a_started.set()
        await b_started.wait()
        return Outcome(delivered=tuple(records))

    async def b(records: Sequence[str]) -> Outcome[str]:
        b_started.set()
        await a_started.wait()
        return Outcome(delivered=tuple(records))

    task = asyncio.create_task(fan_out([applier(a), applier(b)]).apply(["r1"]))
    await settle()
    assert task.done()
    assert list(task.result().delivered) == ["r1"]


async def test_record_failing_at_one_destination_fails_with_an_error_naming_it() -> None:
    a, b = Destination(), Destination(failing={"r2"})
    outcome = await fan_out({"a": a, "b": b}).apply(["r1", "r2"])
    assert list(outcome.delivered) == ["r1"]
    [failure] = outcome.failed
    assert failure.record == "r2"
    assert isinstance(failure.error, FanOutError)
    assert list(failure.error.errors) == ["b"]
    assert isinstance(failure.error.errors["b"], Down)
    assert failure.attempts == 2


async def test_sequence_destinations_are_named_by_position() -> None:
    outcome = await fan_out([Destination(), Destination(failing={"r1"})]).apply(["r1"])
    [failure] = outcome.failed
    assert isinstance(failure.error, FanOutError)
    assert list(failure.error.errors) == ["1"]


async def test_next_apply_sends_the_record_only_where_it_is_still_missing() -> None:
    a, b = Destination(), Destination(failing={"r2"})
    fan = fan_out({"a": a, "b": b})
    records = ["r1", "r2"]
    await fan.apply(records)
    b.failing.clear()
    outcome = await fan.apply(["r2"])
    assert list(outcome.delivered) == ["r2"]
    assert a.calls == [records]
    assert b.calls == [records, ["r2"]]


async def test_key_recognises_a_fresh_copy_of_the_record_across_calls() -> None:
    sent: dict[str, list[int]] = {"a": [], "b": []}
    broken = {"b"}

    def destination(name: str) -> Applier[Event]:
        async def apply(records: Sequence[Event]) -> Outcome[Event]:
            sent[name].extend(r.id for r in records)
            if name in broken:
                return Outcome.all_failed(records, Down(name))
            return Outcome(delivered=tuple(records))

        return applier(apply)

    fan = fan_out({"a": destination("a"), "b": destination("b")}, key=lambda event: event.id)
    await fan.apply([Event(7)])
    broken.clear()
    outcome = await fan.apply([Event(7)])
    assert [e.id for e in outcome.delivered] == [7]
    assert sent == {"a": [7], "b": [7, 7]}


async def test_dead_at_one_destination_counts_as_done_there_and_the_record_ends_dead() -> None:
    a, b = Destination(dead={"r1"}), Destination(failing={"r1"})
    fan = fan_out({"a": a, "b": b})
    first = await fan.apply(["r1"])
    assert [f.record for f in first.failed] == ["r1"]
    b.failing.clear()
    second = await fan.apply(["r1"])
    assert a.calls == [["r1"]]
    assert not second.delivered
    [dead] = second.dead
    assert dead.record == "r1"
    assert isinstance(dead.error, PermanentError)


async def test_dead_everywhere_it_was_missing_is_dead_at_once() -> None:
    outcome = await fan_out({"a": Destination(), "b": Destination(dead={"r1"})}).apply(["r1"])
    assert [f.record for f in outcome.dead] == ["r1"]
    assert not outcome.failed


async def test_dead_at_several_destinations_names_each_error() -> None:
    both = fan_out({"a": Destination(dead={"r1"}), "b": Destination(dead={"r1"})})
    [dead] = (await both.apply(["r1"])).dead
    assert isinstance(dead.error, FanOutError)
    assert sorted(dead.error.errors) == ["a", "b"]


async def test_fatal_error_of_a_destination_fails_its_records_for_it_only() -> None:
    error = Down("b is down")

    async def b(records: Sequence[str]) -> Outcome[str]:
        return Outcome(delivered=records[:1], error=error)

    a = Destination()
    fan = fan_out({"a": a, "b": applier(b)})
    outcome = await fan.apply(["r1", "r2"])
    assert outcome.error is None
    assert list(outcome.delivered) == ["r1"]
    [failure] = outcome.failed
    assert isinstance(failure.error, FanOutError)
    assert failure.error.errors == {"b": error}


async def test_raising_destination_fails_its_records_for_it_only() -> None:
    error = Down("crashed")

    async def b(records: Sequence[str]) -> Outcome[str]:
        raise error

    a = Destination()
    fan = fan_out({"a": a, "b": applier(b)})
    outcome = await fan.apply(["r1"])
    [failure] = outcome.failed
    assert isinstance(failure.error, FanOutError)
    assert failure.error.errors == {"b": error}
    await fan.apply(["r1"])
    assert a.calls == [["r1"]]


async def test_record_released_everywhere_it_failed_keeps_the_release_error() -> None:
    released = ShutdownReleasedError()

    async def b(records: Sequence[str]) -> Outcome[str]:
        return Outcome(failed=[Failure(r, released, 0) for r in records])

    outcome = await fan_out({"a": Destination(), "b": applier(b)}).apply(["r1"])
    [failure] = outcome.failed
    assert failure.error is released
    assert failure.attempts == 0


async def test_record_failing_permanently_everywhere_fails_permanently() -> None:
    async def b(records: Sequence[str]) -> Outcome[str]:
        return Outcome(failed=[Failure(r, PermanentError("rejected")) for r in records])

    outcome = await fan_out({"a": Destination(), "b": applier(b)}).apply(["r1"])
    [failure] = outcome.failed
    assert isinstance(failure.error, PermanentFanOutError)
    assert isinstance(failure.error, PermanentError)
    assert isinstance(failure.error, FanOutError)


async def test_memory_is_bounded_and_evicts_the_least_recent_record() -> None:
    a, b = Destination(), Destination(failing={"r1", "r2"})
    fan = FanOut({"a": a, "b": b}, memory=1)
    await fan.apply(["r1"])
    await fan.apply(["r2"])
    assert "remembered=1/1" in repr(fan)
    b.failing.clear()
    await fan.apply(["r1", "r2"])
    assert a.calls == [["r1"], ["r2"], ["r1"]]  # r1 was forgotten, so a gets it again


async def test_completed_record_is_forgotten() -> None:
    b = Destination(failing={"r1"})
    fan = FanOut({"a": Destination(), "b": b})
    await fan.apply(["r1"])
    assert "remembered=1/" in repr(fan)
    b.failing.clear()
    await fan.apply(["r1"])
    assert "remembered=0/" in repr(fan)


async def test_sequential_mode_applies_destinations_in_the_given_order() -> None:
    log: list[str] = []

    def logging(name: str) -> Applier[str]:
        async def apply(records: Sequence[str]) -> Outcome[str]:
            log.append(name)
            return Outcome(delivered=tuple(records))

        return applier(apply)

    fan = fan_out([logging("x"), logging("y"), logging("z")], concurrent=False)
    outcome = await fan.apply(["r1"])
    assert log == ["x", "y", "z"]
    assert list(outcome.delivered) == ["r1"]


async def test_sequential_mode_releases_later_destinations_when_stopping() -> None:
    stopping = asyncio.Event()
    later = Destination()

    async def first(records: Sequence[str]) -> Outcome[str]:
        stopping.set()
        return Outcome(delivered=tuple(records))

    fan = fan_out({"first": applier(first), "later": later}, concurrent=False)
    with stop_signal(stopping):
        outcome = await fan.apply(["r1"])
    assert later.calls == []
    [failure] = outcome.failed
    assert isinstance(failure.error, ShutdownReleasedError)
    stopping.clear()
    await fan.apply(["r1"])
    assert later.calls == [["r1"]]


async def test_key_error_fails_only_that_record() -> None:
    def key(record: str) -> str:
        if record == "bad":
            raise ValueError("no id")
        return record

    a = Destination()
    outcome = await fan_out({"a": a}, key=key).apply(["r1", "bad"])
    assert list(outcome.delivered) == ["r1"]
    assert [f.record for f in outcome.failed] == ["bad"]
    assert a.calls == [["r1"]]


async def test_async_key_is_awaited() -> None:
    async def key(record: str) -> str:
        return record.upper()

    b = Destination(failing={"r1"})
    fan = fan_out({"a": Destination(), "b": b}, key=key)
    await fan.apply(["r1"])
    b.failing.clear()
    assert list((await fan.apply(["r1"])).delivered) == ["r1"]


async def test_empty_batch_calls_no_destination() -> None:
    a = Destination()
    assert (await fan_out([a]).apply([])).count == 0
    assert a.calls == []


@pytest.mark.parametrize("destinations", [{}, []])
def test_no_destinations_is_a_configuration_error(destinations: object) -> None:
    with pytest.raises(ConfigurationError, match="at least one destination"):
        fan_out(destinations)  # type: ignore[arg-type]


def test_none_destination_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="destination 'b' is not an applier"):
        fan_out({"a": Destination(), "b": None})  # type: ignore[arg-type]


@pytest.mark.parametrize("memory", [0, -5, 1.0, True])
def test_invalid_memory_is_a_configuration_error(memory: object) -> None:
    with pytest.raises(ConfigurationError, match="memory must be a positive int"):
        fan_out([Destination()], memory=memory)  # type: ignore[arg-type]
