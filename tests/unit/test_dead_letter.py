from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from relaybox.core.errors import (
    ConfigurationError,
    DeadLetterError,
    DeadLetterNotFoundError,
    MissingOutcomeError,
    PermanentError,
    ShutdownReleasedError,
    TemporaryError,
)
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.dead_letter import (
    DeadLetteringApplier,
    DeadLetterQueueFullError,
    InMemoryDeadLetterQueue,
    dead_letter,
)
from relaybox.ports.applier import Applier
from relaybox.ports.dead_letters import DeadLetter
from relaybox.testing import FakeClock


def letter(id: str) -> DeadLetter[str]:
    return DeadLetter(id, f"record-{id}", TemporaryError(), 1, 1.0, 1.0)


def returning(outcome: Outcome[str]) -> Applier[str]:
    async def inner(records: Sequence[str]) -> Outcome[str]:
        return outcome

    return applier(inner)


async def ids(queue: InMemoryDeadLetterQueue[str]) -> list[str]:
    return [entry.id for entry in await queue.all()]


async def test_queue_is_fifo_and_peek_does_not_remove() -> None:
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    for name in "abc":
        await queue.put(letter(name))
    assert [entry.id for entry in await queue.peek(2)] == ["a", "b"]
    assert [entry.id for entry in await queue.peek()] == ["a", "b", "c"]
    assert await queue.peek(0) == []
    assert await queue.count() == 3


async def test_peek_rejects_a_negative_limit() -> None:
    with pytest.raises(ValueError, match="limit"):
        await InMemoryDeadLetterQueue[str]().peek(-1)


async def test_full_queue_rejects_by_default() -> None:
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue(2)
    await queue.put(letter("a"))
    await queue.put(letter("b"))
    with pytest.raises(DeadLetterQueueFullError, match="full"):
        await queue.put(letter("c"))
    assert await ids(queue) == ["a", "b"]
    assert queue.dropped == 0


async def test_drop_oldest_evicts_counts_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue(2, overflow="drop_oldest")
    with caplog.at_level(logging.WARNING, logger="relaybox.dead_letters"):
        for name in "abcd":
            await queue.put(letter(name))
    assert await ids(queue) == ["c", "d"]
    assert queue.dropped == 2
    assert "dropped the oldest letter a" in caplog.text


async def test_unbounded_queue_never_overflows() -> None:
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue(None)
    for index in range(50):
        await queue.put(letter(str(index)))
    assert await queue.count() == 50


async def test_remove_takes_exactly_that_id() -> None:
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    for name in "abc":
        await queue.put(letter(name))
    removed = await queue.remove("b")
    assert removed.id == "b"
    assert await ids(queue) == ["a", "c"]
    with pytest.raises(DeadLetterNotFoundError):
        await queue.remove("b")


async def test_pop_oldest_and_clear() -> None:
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    with pytest.raises(DeadLetterNotFoundError):
        await queue.pop_oldest()
    for name in "ab":
        await queue.put(letter(name))
    assert (await queue.pop_oldest()).id == "a"
    assert await queue.clear() == 1
    assert await queue.count() == 0


async def test_queue_repr_shows_live_state() -> None:
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue(5)
    await queue.put(letter("a"))
    assert repr(queue) == (
        "InMemoryDeadLetterQueue(count=1, capacity=5, overflow='reject', dropped=0)"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"capacity": 0}, "capacity"), ({"overflow": "grow"}, "overflow")],
)
def test_queue_settings_are_validated(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        InMemoryDeadLetterQueue(**kwargs)


async def test_clean_outcome_passes_through_unchanged() -> None:
    clean: Outcome[str] = Outcome.all_delivered(["a"])
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    assert await DeadLetteringApplier(returning(clean), queue).apply(["a"]) is clean


async def test_failures_are_stored_and_reported_dead() -> None:
    clock = FakeClock()
    error = TemporaryError("boom")
    failure = Failure("b", error, attempts=4, first_failed_at=10.0, last_failed_at=20.0)
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    stack = DeadLetteringApplier(returning(Outcome(["a"], [failure])), queue, clock=clock)
    outcome = await stack.apply(["a", "b"])
    assert list(outcome.delivered) == ["a"]
    assert list(outcome.dead) == [failure]
    assert not outcome.failed
    (stored,) = await queue.all()
    assert (stored.record, stored.error, stored.attempts) == ("b", error, 4)
    assert (stored.first_failed_at, stored.last_failed_at) == (10.0, 20.0)
    assert stack.stored == 1


async def test_failure_without_times_is_stamped_with_the_clock() -> None:
    clock = FakeClock()
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    inner = returning(Outcome(failed=[Failure("a", TemporaryError())]))
    await DeadLetteringApplier(inner, queue, clock=clock).apply(["a"])
    (stored,) = await queue.all()
    assert stored.first_failed_at == stored.last_failed_at == clock.now()


async def test_released_failures_stay_failed_and_are_not_stored() -> None:
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    released = Failure("a", ShutdownReleasedError())
    outcome = await DeadLetteringApplier(returning(Outcome(failed=[released])), queue).apply(["a"])
    assert list(outcome.failed) == [released]
    assert await queue.count() == 0


async def test_failed_store_keeps_the_record_failed_with_both_errors() -> None:
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue(1)
    await queue.put(letter("x"))
    original = PermanentError("bad")
    inner = returning(Outcome(failed=[Failure("a", original, attempts=2)]))
    outcome = await DeadLetteringApplier(inner, queue).apply(["a"])
    (failure,) = outcome.failed
    assert isinstance(failure.error, DeadLetterError)
    assert failure.error.original is original
    assert isinstance(failure.error.__cause__, DeadLetterQueueFullError)
    assert failure.attempts == 2
    assert not outcome.dead


async def test_a_passing_fatal_error_keeps_its_records_failed_not_stored() -> None:
    fatal = RuntimeError("connection lost")
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    outcome = await DeadLetteringApplier(returning(Outcome(["a"], error=fatal)), queue).apply(
        ["a", "b"]
    )
    assert outcome.error is fatal
    assert list(outcome.delivered) == ["a"]
    assert [(f.record, f.error) for f in outcome.failed] == [("b", fatal)]
    assert list(outcome.dead) == []
    assert await queue.count() == 0


async def test_a_permanent_fatal_error_stores_its_records() -> None:
    fatal = PermanentError("the whole batch is malformed")
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    outcome = await DeadLetteringApplier(returning(Outcome(["a"], error=fatal)), queue).apply(
        ["a", "b"]
    )
    assert outcome.error is fatal
    assert [f.record for f in outcome.dead] == ["b"]
    assert (await queue.all())[0].error is fatal


async def test_a_record_failing_with_its_own_error_beside_a_fatal_one_is_stored() -> None:
    fatal = RuntimeError("connection lost")
    own = ValueError("bad record")
    inner = returning(Outcome(failed=[Failure("a", own)], error=fatal))
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    outcome = await DeadLetteringApplier(inner, queue).apply(["a", "b"])
    assert [f.record for f in outcome.dead] == ["a"]
    assert [f.record for f in outcome.failed] == ["b"]


async def test_released_fatal_error_stores_nothing() -> None:
    fatal = ShutdownReleasedError()
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    outcome = await DeadLetteringApplier(returning(Outcome(error=fatal)), queue).apply(["a"])
    assert [f.error for f in outcome.failed] == [fatal]
    assert outcome.error is fatal
    assert await queue.count() == 0


async def test_a_raised_exception_is_kept_as_error_and_its_records_stay_failed() -> None:
    async def inner(records: Sequence[str]) -> Outcome[str]:
        raise RuntimeError("exploded")

    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    outcome = await DeadLetteringApplier(applier(inner), queue).apply(["a"])
    assert isinstance(outcome.error, RuntimeError)
    assert [f.record for f in outcome.failed] == ["a"]
    assert await queue.count() == 0


async def test_missing_records_are_stored_as_missing() -> None:
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    outcome = await DeadLetteringApplier(returning(Outcome(["a"])), queue).apply(["a", "b"])
    assert [f.record for f in outcome.dead] == ["b"]
    assert isinstance(outcome.dead[0].error, MissingOutcomeError)


async def test_inner_dead_entries_pass_through() -> None:
    already = Failure("a", PermanentError())
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    inner = returning(Outcome(failed=[Failure("b", TemporaryError())], dead=[already]))
    outcome = await DeadLetteringApplier(inner, queue).apply(["a", "b"])
    assert outcome.dead[0] is already
    assert await queue.count() == 1


async def test_identify_and_metadata_are_stored_on_the_letter() -> None:
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    inner = returning(Outcome(failed=[Failure("a", TemporaryError())]))
    wrap = dead_letter(queue, identify=lambda r: f"id-{r}", metadata={"pipeline": "orders"})
    await wrap(inner).apply(["a"])
    (stored,) = await queue.all()
    assert stored.id == "id-a"
    assert stored.metadata == {"pipeline": "orders"}


async def test_metadata_may_be_computed_per_failure() -> None:
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    inner = returning(Outcome(failed=[Failure("a", TemporaryError(), attempts=3)]))
    await dead_letter(queue, metadata=lambda f: {"tries": f.attempts})(inner).apply(["a"])
    assert (await queue.all())[0].metadata == {"tries": 3}


async def test_a_failing_identify_keeps_the_record_failed() -> None:
    def identify(record: str) -> str:
        raise KeyError(record)

    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    inner = returning(Outcome(failed=[Failure("a", TemporaryError())]))
    outcome = await dead_letter(queue, identify=identify)(inner).apply(["a"])
    assert isinstance(outcome.failed[0].error, DeadLetterError)
    assert isinstance(outcome.failed[0].error.__cause__, KeyError)


def test_applier_repr_shows_queue_and_count() -> None:
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    text = repr(DeadLetteringApplier(returning(Outcome()), queue))
    assert "InMemoryDeadLetterQueue(count=0" in text
    assert "stored=0" in text
