from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaybox.core.errors import ConfigurationError, MissingOutcomeError, PermanentError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.transform import transformed
from relaybox.ports.applier import Applier


class Boom(Exception):
    pass


class Recorder:
    """Fails values that end in "bad" (3 attempts) and dead-letters those ending in "dead"."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def applier(self) -> Applier[str]:
        async def apply(values: Sequence[str]) -> Outcome[str]:
            self.calls.append(list(values))
            return Outcome(
                delivered=[v for v in values if not v.endswith(("bad", "dead"))],
                failed=[Failure(v, Boom(v), attempts=3) for v in values if v.endswith("bad")],
                dead=[Failure(v, PermanentError(v)) for v in values if v.endswith("dead")],
            )

        return applier(apply)


def shout(record: str) -> str:
    return record.upper() + "!"


def tag(record: str) -> str:
    return f"v:{record}"


def identities(items: Sequence[object]) -> list[int]:
    return [id(item) for item in items]


async def test_the_inner_applier_sees_the_transformed_values() -> None:
    inner = Recorder()
    await transformed(shout)(inner.applier()).apply(["a", "b"])
    assert inner.calls == [["A!", "B!"]]


async def test_the_outcome_lists_the_original_records() -> None:
    records = ["ok", "bad", "dead"]
    outcome = await transformed(tag)(Recorder().applier()).apply(records)
    assert identities(outcome.delivered) == [id(records[0])]
    assert identities([f.record for f in outcome.failed]) == [id(records[1])]
    assert identities([f.record for f in outcome.dead]) == [id(records[2])]


async def test_failure_details_are_kept_when_mapped_back() -> None:
    outcome = await transformed(tag)(Recorder().applier()).apply(["bad"])
    (failure,) = outcome.failed
    assert (failure.record, failure.attempts, str(failure.error)) == ("bad", 3, "v:bad")


async def test_one_value_for_every_record_still_maps_back_to_each_record() -> None:
    records = [object(), object(), object()]

    async def deliver(values: Sequence[str]) -> Outcome[str]:
        return Outcome.all_delivered(values)

    def same(record: object) -> str:
        return "same"

    outcome = await transformed(same)(applier(deliver)).apply(records)
    assert identities(outcome.delivered) == identities(records)


async def test_shared_values_are_matched_in_input_order_across_lists() -> None:
    records = [object(), object()]

    async def split(values: Sequence[int]) -> Outcome[int]:
        return Outcome(delivered=values[:1], failed=[Failure(values[1], Boom())])

    def seven(record: object) -> int:
        return 7

    outcome = await transformed(seven)(applier(split)).apply(records)
    assert identities(outcome.delivered) == [id(records[0])]
    assert identities([f.record for f in outcome.failed]) == [id(records[1])]


async def test_a_raising_transform_fails_only_that_record_which_is_not_applied() -> None:
    def picky(record: str) -> str:
        if record == "odd":
            raise Boom("cannot transform")
        return record

    inner = Recorder()
    outcome = await transformed(picky)(inner.applier()).apply(["a", "odd", "b"])
    assert inner.calls == [["a", "b"]]
    assert list(outcome.delivered) == ["a", "b"]
    assert [(f.record, str(f.error)) for f in outcome.failed] == [("odd", "cannot transform")]


async def test_when_every_transform_fails_the_inner_is_not_called() -> None:
    def broken(record: str) -> str:
        raise Boom(record)

    inner = Recorder()
    outcome = await transformed(broken)(inner.applier()).apply(["a", "b"])
    assert inner.calls == []
    assert [f.record for f in outcome.failed] == ["a", "b"]


async def test_an_inner_exception_is_kept_with_the_transform_failures() -> None:
    def picky(record: str) -> str:
        if record == "odd":
            raise Boom("cannot transform")
        return record + "!"

    async def raising(values: Sequence[str]) -> Outcome[str]:
        raise Boom("down")

    outcome = await transformed(picky)(applier(raising)).apply(["a", "odd"])
    assert str(outcome.error) == "down"
    assert {(f.record, str(f.error)) for f in outcome.failed} == {
        ("odd", "cannot transform"),
        ("a", "down"),
    }


async def test_an_inner_exception_propagates_when_every_transform_worked() -> None:
    async def raising(values: Sequence[str]) -> Outcome[str]:
        raise Boom("down")

    with pytest.raises(Boom, match="down"):
        await transformed(shout)(applier(raising)).apply(["a"])


async def test_values_the_inner_leaves_out_fail_as_missing() -> None:
    async def forgetful(values: Sequence[str]) -> Outcome[str]:
        return Outcome(delivered=values[:1])

    outcome = await transformed(shout)(applier(forgetful)).apply(["a", "b"])
    assert list(outcome.delivered) == ["a"]
    (failure,) = outcome.failed
    assert failure.record == "b"
    assert isinstance(failure.error, MissingOutcomeError)


async def test_objects_the_inner_did_not_receive_are_dropped() -> None:
    async def copying(values: Sequence[str]) -> Outcome[str]:
        return Outcome(delivered=["".join(v) for v in values])

    records = ["a"]
    outcome = await transformed(shout)(applier(copying)).apply(records)
    assert outcome.delivered == ()
    assert [f.record for f in outcome.failed] == records


async def test_a_fatal_error_fails_the_records_left_out() -> None:
    fatal = Boom("fatal")

    async def partial(values: Sequence[str]) -> Outcome[str]:
        return Outcome(delivered=values[:1], error=fatal)

    outcome = await transformed(shout)(applier(partial)).apply(["a", "b"])
    assert list(outcome.delivered) == ["a"]
    assert [(f.record, f.error) for f in outcome.failed] == [("b", fatal)]
    assert outcome.error is fatal


async def test_an_async_transform_is_awaited() -> None:
    async def lookup(record: str) -> str:
        return f"looked-up:{record}"

    inner = Recorder()
    outcome = await transformed(lookup)(inner.applier()).apply(["a"])
    assert inner.calls == [["looked-up:a"]]
    assert list(outcome.delivered) == ["a"]


async def test_repr_shows_how_many_transforms_failed() -> None:
    def broken(record: str) -> str:
        raise Boom(record)

    wrapped = transformed(broken)(Recorder().applier())
    await wrapped.apply(["a", "b"])
    assert "fn='test_repr_shows_how_many_transforms_failed.<locals>.broken'" in repr(wrapped)
    assert "transform_errors=2" in repr(wrapped)


def test_a_non_callable_transform_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="fn must be a callable"):
        transformed("upper")  # type: ignore[call-overload]


@given(
    keys=st.lists(st.integers(0, 3), max_size=30),
    fates=st.lists(st.sampled_from(["delivered", "failed", "dead", "missing"]), max_size=30),
)
async def test_every_record_is_accounted_for_exactly_once(
    keys: list[int], fates: list[str]
) -> None:
    """Values shared between records (small ints are interned) still account for each record."""
    records = [object() for _ in keys]
    by_record = dict(zip(map(id, records), keys, strict=True))

    async def sort(values: Sequence[int]) -> Outcome[int]:
        lists: dict[str, list[int]] = {"delivered": [], "failed": [], "dead": [], "missing": []}
        for i, value in enumerate(values):
            lists[fates[i] if i < len(fates) else "delivered"].append(value)
        return Outcome(
            delivered=lists["delivered"],
            failed=[Failure(v, Boom()) for v in lists["failed"]],
            dead=[Failure(v, Boom()) for v in lists["dead"]],
        )

    def key(record: object) -> int:
        return by_record[id(record)]

    outcome = await transformed(key)(applier(sort)).apply(records)
    seen = identities(outcome.delivered)
    seen += identities([f.record for f in (*outcome.failed, *outcome.dead)])
    assert sorted(seen) == sorted(identities(records))
