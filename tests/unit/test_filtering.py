from __future__ import annotations

from collections.abc import Sequence

import pytest

from relaybox.core.errors import ConfigurationError, PermanentError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.filtering import filtered
from relaybox.ports.applier import Applier


class Boom(Exception):
    pass


class Recorder:
    """Delivers everything except records that start with "bad" (failed) or "dead"."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def applier(self) -> Applier[str]:
        async def apply(records: Sequence[str]) -> Outcome[str]:
            self.calls.append(list(records))
            return Outcome(
                delivered=[r for r in records if not r.startswith(("bad", "dead"))],
                failed=[Failure(r, Boom(r)) for r in records if r.startswith("bad")],
                dead=[Failure(r, PermanentError(r)) for r in records if r.startswith("dead")],
            )

        return applier(apply)


def wanted(record: str) -> bool:
    return not record.startswith("skip")


async def test_rejected_records_are_reported_delivered_and_not_applied() -> None:
    inner = Recorder()
    outcome = await filtered(wanted)(inner.applier()).apply(["a", "skip1", "b", "skip2"])
    assert inner.calls == [["a", "b"]]
    assert list(outcome.delivered) == ["a", "b", "skip1", "skip2"]
    assert not outcome.failed
    assert not outcome.dead
    assert outcome.error is None


async def test_when_no_record_passes_the_inner_is_not_called() -> None:
    inner = Recorder()
    outcome = await filtered(wanted)(inner.applier()).apply(["skip1", "skip2"])
    assert inner.calls == []
    assert list(outcome.delivered) == ["skip1", "skip2"]


async def test_an_empty_batch_does_not_call_the_inner() -> None:
    inner = Recorder()
    outcome = await filtered(wanted)(inner.applier()).apply([])
    assert (inner.calls, outcome.count) == ([], 0)


async def test_when_every_record_passes_the_inner_outcome_is_returned_as_is() -> None:
    result: Outcome[str] = Outcome(delivered=("a",))

    async def fixed(records: Sequence[str]) -> Outcome[str]:
        return result

    assert await filtered(wanted)(applier(fixed)).apply(["a"]) is result


async def test_failed_and_dead_entries_of_the_inner_pass_through() -> None:
    outcome = await filtered(wanted)(Recorder().applier()).apply(["bad", "dead", "skip"])
    assert [f.record for f in outcome.failed] == ["bad"]
    assert [f.record for f in outcome.dead] == ["dead"]
    assert isinstance(outcome.dead[0].error, PermanentError)
    assert list(outcome.delivered) == ["skip"]


async def test_skipped_records_stay_delivered_when_the_inner_raises() -> None:
    async def raising(records: Sequence[str]) -> Outcome[str]:
        raise Boom("down")

    records = ["a", "skip", "b"]
    outcome = await filtered(wanted)(applier(raising)).apply(records)
    assert isinstance(outcome.error, Boom)
    complete = outcome.reconcile(records)
    assert list(complete.delivered) == ["skip"]
    assert [(f.record, f.error) for f in complete.failed] == [
        ("a", outcome.error),
        ("b", outcome.error),
    ]


async def test_skipped_records_stay_delivered_when_the_inner_reports_a_fatal_error() -> None:
    fatal = Boom("fatal")

    async def partial(records: Sequence[str]) -> Outcome[str]:
        return Outcome(delivered=records[:1], error=fatal)

    outcome = await filtered(wanted)(applier(partial)).apply(["a", "b", "skip"])
    assert list(outcome.delivered) == ["a", "skip"]
    assert outcome.error is fatal


async def test_a_raising_predicate_fails_only_that_record() -> None:
    def picky(record: str) -> bool:
        if record == "odd":
            raise Boom("cannot decide")
        return True

    inner = Recorder()
    outcome = await filtered(picky)(inner.applier()).apply(["a", "odd", "b"])
    assert inner.calls == [["a", "b"]]
    assert list(outcome.delivered) == ["a", "b"]
    assert [(f.record, str(f.error)) for f in outcome.failed] == [("odd", "cannot decide")]


async def test_an_async_predicate_is_awaited() -> None:
    async def async_wanted(record: str) -> bool:
        return wanted(record)

    inner = Recorder()
    outcome = await filtered(async_wanted)(inner.applier()).apply(["a", "skip"])
    assert inner.calls == [["a"]]
    assert list(outcome.delivered) == ["a", "skip"]


async def test_records_are_tracked_by_identity_not_equality() -> None:
    async def deliver(records: Sequence[list[str]]) -> Outcome[list[str]]:
        return Outcome(delivered=[list(r) for r in records if r == ["equal"]])

    records = [["equal"], ["skip"]]
    outcome = await filtered(lambda r: r != ["skip"])(applier(deliver)).apply(records)
    complete = outcome.reconcile(records)
    assert complete.delivered == (records[1],)
    assert [f.record for f in complete.failed] == [records[0]]
    assert complete.delivered[0] is records[1]
    assert complete.failed[0].record is records[0]


async def test_repr_shows_how_many_records_were_skipped() -> None:
    wrapped = filtered(wanted)(Recorder().applier())
    await wrapped.apply(["skip", "a"])
    assert "predicate='wanted', skipped=1" in repr(wrapped)


def test_a_non_callable_predicate_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="predicate"):
        filtered(True)  # type: ignore[arg-type]
