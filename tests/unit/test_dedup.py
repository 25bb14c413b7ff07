from __future__ import annotations

import asyncio
from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass

import pytest

from relaybox.core.errors import ConfigurationError, DuplicateInFlightError, PermanentError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.dedup import InMemoryDedupStore, deduplicate
from relaybox.testing import FakeClock, ScriptedApplier


@dataclass(eq=False)
class Msg:
    key: str
    body: str = ""


def key(m: Msg) -> str:
    return m.key


# -- the in-memory store ------------------------------------------------------


async def test_store_sees_remembered_keys_only() -> None:
    store = InMemoryDedupStore(clock=FakeClock())
    await store.remember(["a", "b"])
    assert await store.seen(["a", "c"]) == {"a"}


async def test_store_forgets_a_key_once_its_ttl_has_passed() -> None:
    clock = FakeClock()
    store = InMemoryDedupStore(ttl=10, clock=clock)
    await store.remember(["a"])
    await clock.advance(9.9)
    assert await store.seen(["a"]) == {"a"}
    await clock.advance(0.1)
    assert await store.seen(["a"]) == set()


async def test_store_purges_expired_entries_when_writing() -> None:
    clock = FakeClock()
    store = InMemoryDedupStore(ttl=10, clock=clock)
    await store.remember(["a", "b"])
    await clock.advance(5)
    await store.remember(["c"])
    await clock.advance(5)
    await store.remember(["d"])
    assert len(store) == 2
    assert await store.seen(["a", "b", "c", "d"]) == {"c", "d"}


async def test_store_at_capacity_evicts_the_oldest_key_for_a_new_one() -> None:
    store = InMemoryDedupStore(capacity=2, clock=FakeClock())
    await store.remember(["a", "b"])
    await store.remember(["c"])
    assert await store.seen(["a", "b", "c"]) == {"b", "c"}


async def test_store_remembering_a_known_key_refreshes_it_without_evicting() -> None:
    clock = FakeClock()
    store = InMemoryDedupStore(ttl=10, capacity=2, clock=clock)
    await store.remember(["a", "b"])
    await clock.advance(6)
    await store.remember(["a"])
    assert len(store) == 2
    await store.remember(["c"])
    assert await store.seen(["a", "b", "c"]) == {"a", "c"}
    await clock.advance(6)
    assert await store.seen(["a"]) == {"a"}


async def test_store_without_ttl_or_capacity_keeps_everything() -> None:
    clock = FakeClock()
    store = InMemoryDedupStore(ttl=None, capacity=None, clock=clock)
    await store.remember([str(i) for i in range(1000)])
    await clock.advance(10**9)
    assert len(await store.seen(["0", "999"])) == 2


@pytest.mark.parametrize(("ttl", "capacity"), [(0, 10), (-1.0, 10), (float("nan"), 10), (1, 0)])
def test_store_invalid_settings_raise_configuration_error(
    ttl: float | None, capacity: int | None
) -> None:
    with pytest.raises(ConfigurationError):
        InMemoryDedupStore(ttl, capacity)


async def test_store_repr_shows_its_size() -> None:
    store = InMemoryDedupStore(ttl=5, capacity=7, clock=FakeClock())
    await store.remember(["a"])
    assert repr(store) == "InMemoryDedupStore(ttl=5, capacity=7, size=1)"


# -- the middleware -----------------------------------------------------------


async def test_seen_records_are_delivered_without_calling_the_inner_applier() -> None:
    store = InMemoryDedupStore(clock=FakeClock())
    await store.remember(["a"])
    inner = ScriptedApplier[Msg]()
    old, new = Msg("a"), Msg("b")
    outcome = await deduplicate(key, store)(inner).apply([old, new])
    assert inner.calls == [[new]]
    assert set(map(id, outcome.delivered)) == {id(old), id(new)}


async def test_only_delivered_keys_are_remembered() -> None:
    store = InMemoryDedupStore(clock=FakeClock())
    inner = ScriptedApplier[Msg](fail_when=lambda m: m.key == "bad")
    good, bad = Msg("good"), Msg("bad")
    outcome = await deduplicate(key, store)(inner).apply([good, bad])
    assert list(outcome.delivered) == [good]
    assert [f.record for f in outcome.failed] == [bad]
    assert await store.seen(["good", "bad"]) == {"good"}


async def test_a_batch_of_new_keys_passes_the_inner_outcome_through() -> None:
    expected: Outcome[Msg] = Outcome()

    async def inner(records: Sequence[Msg]) -> Outcome[Msg]:
        nonlocal expected
        expected = Outcome.all_delivered(records)
        return expected

    outcome = await deduplicate(key)(applier(inner)).apply([Msg("a"), Msg("b")])
    assert outcome is expected


async def test_in_batch_duplicates_share_the_delivered_fate_of_the_first() -> None:
    inner = ScriptedApplier[Msg]()
    first, again, other = Msg("a", "1"), Msg("a", "2"), Msg("b")
    outcome = await deduplicate(key)(inner).apply([first, again, other])
    assert inner.calls == [[first, other]]
    assert {id(r) for r in outcome.delivered} == {id(first), id(again), id(other)}
    assert outcome.count == 3


async def test_in_batch_duplicates_share_a_failure_with_its_error() -> None:
    boom = RuntimeError("down")
    inner = ScriptedApplier[Msg](fail_when=lambda m: True, error=lambda m: boom)
    first, again = Msg("a", "1"), Msg("a", "2")
    outcome = await deduplicate(key)(inner).apply([first, again])
    assert [f.record for f in outcome.failed] == [first, again]
    assert all(f.error is boom for f in outcome.failed)
    assert outcome.delivered == ()


async def test_in_batch_duplicates_of_a_dead_record_are_dead_too() -> None:
    invalid = PermanentError("invalid")

    async def inner(records: Sequence[Msg]) -> Outcome[Msg]:
        return Outcome(dead=[Failure(r, invalid, attempts=3) for r in records])

    first, again = Msg("a", "1"), Msg("a", "2")
    outcome = await deduplicate(key)(applier(inner)).apply([first, again])
    assert [(f.record, f.error, f.attempts) for f in outcome.dead] == [
        (first, invalid, 3),
        (again, invalid, 3),
    ]
    assert outcome.failed == ()


async def test_in_batch_duplicates_of_a_seen_key_are_all_skipped() -> None:
    store = InMemoryDedupStore(clock=FakeClock())
    await store.remember(["a"])
    inner = ScriptedApplier[Msg]()
    batch = [Msg("a"), Msg("a")]
    outcome = await deduplicate(key, store)(inner).apply(batch)
    assert inner.calls == []
    assert {id(r) for r in outcome.delivered} == {id(r) for r in batch}


async def test_a_key_in_flight_elsewhere_fails_as_duplicate_in_flight() -> None:
    gate = asyncio.Event()
    calls: list[list[str]] = []

    async def inner(records: Sequence[Msg]) -> Outcome[Msg]:
        calls.append([m.key for m in records])
        if len(calls) == 1:
            await gate.wait()
        return Outcome.all_delivered(records)

    wrapped = deduplicate(key)(applier(inner))
    slow = asyncio.create_task(wrapped.apply([Msg("a")]))
    await asyncio.sleep(0)
    clash, fresh = Msg("a"), Msg("b")
    outcome = await wrapped.apply([clash, fresh])
    assert calls == [["a"], ["b"]]
    assert list(outcome.delivered) == [fresh]
    assert [f.record for f in outcome.failed] == [clash]
    assert isinstance(outcome.failed[0].error, DuplicateInFlightError)
    gate.set()
    await slow
    later = await wrapped.apply([Msg("a")])
    assert len(later.delivered) == 1
    assert calls == [["a"], ["b"]]


async def test_in_flight_claims_are_released_when_the_inner_applier_raises() -> None:
    async def inner(records: Sequence[Msg]) -> Outcome[Msg]:
        raise RuntimeError("down")

    wrapped = deduplicate(key)(applier(inner))
    await wrapped.apply([Msg("a")])
    outcome = await wrapped.apply([Msg("a")])
    assert not any(isinstance(f.error, DuplicateInFlightError) for f in outcome.failed)


async def test_fatal_inner_error_remembers_delivered_and_fails_the_rest_once() -> None:
    boom = RuntimeError("connection lost")
    store = InMemoryDedupStore(clock=FakeClock())

    async def inner(records: Sequence[Msg]) -> Outcome[Msg]:
        return Outcome(delivered=[records[0]], failed=[Failure(records[1], boom)], error=boom)

    batch = [Msg("a"), Msg("b"), Msg("c"), Msg("a")]
    outcome = await deduplicate(key, store)(applier(inner)).apply(batch)
    assert outcome.error is boom
    assert {id(r) for r in outcome.delivered} == {id(batch[0]), id(batch[3])}
    assert sorted(f.record.key for f in outcome.failed) == ["b", "c"]
    assert outcome.count == 4
    assert await store.seen(["a", "b", "c"]) == {"a"}


async def test_a_raising_inner_applier_becomes_a_fatal_outcome() -> None:
    boom = RuntimeError("down")

    async def inner(records: Sequence[Msg]) -> Outcome[Msg]:
        raise boom

    batch = [Msg("a"), Msg("a")]
    outcome = await deduplicate(key)(applier(inner)).apply(batch)
    assert outcome.error is boom
    assert [f.record for f in outcome.failed] == batch


async def test_async_key_functions_are_awaited() -> None:
    async def async_key(m: Msg) -> Hashable:
        return m.key

    inner = ScriptedApplier[Msg]()
    wrapped = deduplicate(async_key)(inner)
    await wrapped.apply([Msg("a")])
    outcome = await wrapped.apply([Msg("a")])
    assert len(inner.calls) == 1
    assert len(outcome.delivered) == 1


async def test_a_record_whose_key_raises_fails_alone_with_that_error() -> None:
    broken = LookupError("no key")

    def fussy_key(m: Msg) -> str:
        if m.key == "?":
            raise broken
        return m.key

    inner = ScriptedApplier[Msg]()
    good, bad = Msg("a"), Msg("?")
    outcome = await deduplicate(fussy_key)(inner).apply([good, bad])
    assert inner.calls == [[good]]
    assert list(outcome.delivered) == [good]
    assert [(f.record, f.error) for f in outcome.failed] == [(bad, broken)]


async def test_a_failing_store_write_keeps_the_records_delivered() -> None:
    class ForgetfulStore:
        async def seen(self, keys: Collection[Hashable], /) -> set[Hashable]:
            return set()

        async def remember(self, keys: Collection[Hashable], /) -> None:
            raise OSError("store down")

    inner = ScriptedApplier[Msg]()
    outcome = await deduplicate(key, ForgetfulStore())(inner).apply([Msg("a")])
    assert len(outcome.delivered) == 1
    assert outcome.error is None


def test_key_must_be_callable() -> None:
    with pytest.raises(ConfigurationError, match="key"):
        deduplicate("id")  # type: ignore[arg-type]


async def test_applier_repr_shows_the_store_and_keys_in_flight() -> None:
    wrapped = deduplicate(key)(ScriptedApplier[Msg]())
    assert "in_flight=0" in repr(wrapped)
    assert "InMemoryDedupStore" in repr(wrapped)


async def test_a_record_busy_in_another_call_is_released_not_dead_lettered() -> None:
    """A key in flight elsewhere hands the record back unattempted; an outer
    dead-letter stage must not store it (it would never be offered again)."""
    from relaybox.core.errors import ReleasedError
    from relaybox.pipeline.middleware.dead_letter import InMemoryDeadLetterQueue, dead_letter

    gate = asyncio.Event()
    applied: list[dict[str, object]] = []

    async def slow(records: Sequence[dict[str, object]]) -> Outcome[dict[str, object]]:
        await gate.wait()
        applied.extend(records)
        return Outcome.all_delivered(records)

    queue: InMemoryDeadLetterQueue[dict[str, object]] = InMemoryDeadLetterQueue()
    stack = dead_letter(queue)(deduplicate(lambda r: r["id"])(applier(slow)))
    first = asyncio.ensure_future(stack.apply([{"id": 1, "copy": "a"}]))
    await asyncio.sleep(0)
    second = await stack.apply([{"id": 1, "copy": "b"}])
    gate.set()
    await first
    assert not second.dead
    (busy,) = second.failed
    assert isinstance(busy.error, DuplicateInFlightError)
    assert isinstance(busy.error, ReleasedError)
    assert await queue.count() == 0
    assert applied == [{"id": 1, "copy": "a"}]
