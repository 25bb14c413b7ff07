from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from relaybox.core.errors import (
    ConfigurationError,
    DeadLetterError,
    DeadLetterNotFoundError,
    PermanentError,
    UnknownRouteError,
)
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.routing import Router, route
from relaybox.ports.dead_letters import DeadLetter
from relaybox.testing import FakeClock, settle


class Down(Exception):
    pass


class Recorder:
    """Delivers every record and remembers each call's records."""

    def __init__(self, log: list[str] | None = None, name: str = "") -> None:
        self.calls: list[list[str]] = []
        self._log = log
        self._name = name

    async def apply(self, records: Sequence[str], /) -> Outcome[str]:
        if self._log is not None:
            self._log.append(self._name)
        self.calls.append(list(records))
        return Outcome(delivered=tuple(records))


class MemoryLetters:
    def __init__(self, *, broken: bool = False) -> None:
        self.letters: list[DeadLetter[str]] = []
        self._broken = broken

    async def put(self, letter: DeadLetter[str], /) -> None:
        if self._broken:
            raise Down("store unavailable")
        self.letters.append(letter)

    async def peek(self, limit: int | None = None, /) -> Sequence[DeadLetter[str]]:
        return self.letters[:limit]

    async def remove(self, letter_id: str, /) -> DeadLetter[str]:
        for letter in self.letters:
            if letter.id == letter_id:
                self.letters.remove(letter)
                return letter
        raise DeadLetterNotFoundError(letter_id)

    async def count(self) -> int:
        return len(self.letters)


def prefix(record: str) -> str:
    return record.split(":", maxsplit=1)[0]


async def test_records_reach_their_route_in_input_order() -> None:
    a, b = Recorder(), Recorder()
    records = ["a:1", "b:1", "a:2", "b:2", "a:3"]
    outcome = await route(prefix, {"a": a, "b": b}).apply(records)
    assert a.calls == [["a:1", "a:2", "a:3"]]
    assert b.calls == [["b:1", "b:2"]]
    assert sorted(outcome.delivered) == sorted(records)


async def test_groups_start_and_report_in_first_appearance_order() -> None:
    log: list[str] = []
    routes = {name: Recorder(log, name) for name in ("a", "b", "c")}
    outcome = await route(prefix, routes).apply(["c:1", "a:1", "c:2", "b:1"])
    assert log == ["c", "a", "b"]
    assert list(outcome.delivered) == ["c:1", "c:2", "a:1", "b:1"]


async def test_different_routes_are_applied_concurrently() -> None:
    a_started, b_started = asyncio.Event(), asyncio.Event()

    async def a(records: Sequence[str]) -> Outcome[str]:
        a_started.set()
        await b_started.wait()
        return Outcome(delivered=tuple(records))

    async def b(records: Sequence[str]) -> Outcome[str]:
        b_started.set()
        await a_started.wait()
        return Outcome(delivered=tuple(records))

    task = asyncio.create_task(
        route(prefix, {"a": applier(a), "b": applier(b)}).apply(["a:1", "b:1"])
    )
    await settle()
    assert task.done()
    assert sorted(task.result().delivered) == ["a:1", "b:1"]


async def test_unrouted_records_go_to_default_in_first_appearance_place() -> None:
    log: list[str] = []
    a, fallback = Recorder(log, "a"), Recorder(log, "default")
    outcome = await route(prefix, {"a": a}, default=fallback).apply(["x:1", "a:1", "y:1"])
    assert fallback.calls == [["x:1", "y:1"]]
    assert log == ["default", "a"]
    assert list(outcome.delivered) == ["x:1", "y:1", "a:1"]


async def test_unknown_fail_fails_records_with_permanent_unknown_route_error() -> None:
    outcome = await route(prefix, {"a": Recorder()}).apply(["a:1", "zz:1"])
    assert list(outcome.delivered) == ["a:1"]
    [failure] = outcome.failed
    assert failure.record == "zz:1"
    assert isinstance(failure.error, UnknownRouteError)
    assert isinstance(failure.error, PermanentError)
    assert failure.error.route == "zz"


async def test_unknown_dead_letter_stores_the_record_and_reports_it_dead() -> None:
    letters = MemoryLetters()
    clock = FakeClock()
    router = route(
        prefix, {"a": Recorder()}, unknown="dead_letter", dead_letters=letters, clock=clock
    )
    outcome = await router.apply(["a:1", "zz:1"])
    assert list(outcome.delivered) == ["a:1"]
    [dead] = outcome.dead
    assert dead.record == "zz:1"
    assert isinstance(dead.error, UnknownRouteError)
    [letter] = letters.letters
    assert letter.record == "zz:1"
    assert letter.error is dead.error
    assert letter.first_failed_at == clock.now()


async def test_dead_letter_store_failure_keeps_the_record_failed() -> None:
    router = route(
        prefix, {"a": Recorder()}, unknown="dead_letter", dead_letters=MemoryLetters(broken=True)
    )
    outcome = await router.apply(["zz:1"])
    assert not outcome.dead
    [failure] = outcome.failed
    assert isinstance(failure.error, DeadLetterError)
    assert isinstance(failure.error.original, UnknownRouteError)
    assert isinstance(failure.error.__cause__, Down)


async def test_unknown_skip_reports_unrouted_records_delivered() -> None:
    a = Recorder()
    outcome = await route(prefix, {"a": a}, unknown="skip").apply(["a:1", "zz:1"])
    assert sorted(outcome.delivered) == ["a:1", "zz:1"]
    assert a.calls == [["a:1"]]


async def test_fatal_error_of_a_group_fails_only_that_groups_undelivered_records() -> None:
    error = Down("b is down")

    async def b(records: Sequence[str]) -> Outcome[str]:
        return Outcome(delivered=records[:1], error=error)

    router = route(prefix, {"a": Recorder(), "b": applier(b)})
    outcome = await router.apply(["a:1", "b:1", "b:2", "a:2"])
    assert outcome.error is None
    assert list(outcome.delivered) == ["a:1", "a:2", "b:1"]
    [failure] = outcome.failed
    assert failure.record == "b:2"
    assert failure.error is error


async def test_raising_group_fails_its_records_with_the_exception() -> None:
    error = Down("crashed")

    async def b(records: Sequence[str]) -> Outcome[str]:
        raise error

    outcome = await route(prefix, {"a": Recorder(), "b": applier(b)}).apply(["a:1", "b:1"])
    assert list(outcome.delivered) == ["a:1"]
    assert [(f.record, f.error) for f in outcome.failed] == [("b:1", error)]
    assert outcome.error is None


async def test_only_group_with_a_fatal_error_still_reports_no_fatal_error() -> None:
    error = Down("down")

    async def b(records: Sequence[str]) -> Outcome[str]:
        return Outcome(error=error)

    outcome = await route(prefix, {"b": applier(b)}).apply(["b:1"])
    assert outcome.error is None
    assert [(f.record, f.error) for f in outcome.failed] == [("b:1", error)]


async def test_failed_and_dead_entries_of_a_route_pass_through() -> None:
    failure = Failure("a:1", Down("a:1"), attempts=2)
    dead = Failure("a:2", PermanentError("a:2"))

    async def a(records: Sequence[str]) -> Outcome[str]:
        return Outcome(failed=[failure], dead=[dead])

    outcome = await route(prefix, {"a": applier(a), "b": Recorder()}).apply(["a:1", "a:2", "b:1"])
    assert list(outcome.failed) == [failure]
    assert list(outcome.dead) == [dead]
    assert list(outcome.delivered) == ["b:1"]


async def test_selector_error_fails_only_that_record() -> None:
    def selector(record: str) -> str:
        if record == "bad":
            raise Down("cannot route")
        return prefix(record)

    outcome = await route(selector, {"a": Recorder()}).apply(["a:1", "bad"])
    assert list(outcome.delivered) == ["a:1"]
    [failure] = outcome.failed
    assert failure.record == "bad"
    assert isinstance(failure.error, Down)


async def test_async_selector_is_awaited() -> None:
    async def selector(record: str) -> str:
        return prefix(record)

    a = Recorder()
    outcome = await route(selector, {"a": a}).apply(["a:1", "a:2"])
    assert a.calls == [["a:1", "a:2"]]
    assert list(outcome.delivered) == ["a:1", "a:2"]


async def test_empty_batch_calls_no_route() -> None:
    a = Recorder()
    outcome = await route(prefix, {"a": a}).apply([])
    assert outcome.count == 0
    assert a.calls == []


def test_route_mapped_to_none_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="route 'a' is mapped to None"):
        route(prefix, {"a": None})  # type: ignore[dict-item]


def test_no_routes_and_no_default_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="at least one route or a default"):
        route(prefix, {})


def test_dead_letter_policy_without_a_queue_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="needs a dead_letters= queue"):
        route(prefix, {"a": Recorder()}, unknown="dead_letter")


def test_queue_without_dead_letter_policy_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="only used with unknown='dead_letter'"):
        route(prefix, {"a": Recorder()}, dead_letters=MemoryLetters())


def test_unknown_policy_must_be_one_of_the_three() -> None:
    with pytest.raises(ConfigurationError, match="'fail', 'dead_letter' or 'skip'"):
        route(prefix, {"a": Recorder()}, unknown="drop")  # type: ignore[arg-type]


def test_selector_must_be_callable() -> None:
    with pytest.raises(ConfigurationError, match="selector must be a function"):
        route("type", {"a": Recorder()})  # type: ignore[arg-type]


async def test_repr_shows_routes_policy_and_unrouted_count() -> None:
    router = Router(prefix, {"a": Recorder()}, unknown="skip")
    await router.apply(["zz:1", "zz:2"])
    assert "routes=['a']" in repr(router)
    assert "unknown='skip'" in repr(router)
    assert "unrouted=2" in repr(router)
