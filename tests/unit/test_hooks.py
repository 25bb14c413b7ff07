from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from relaybox.core.errors import MissingOutcomeError, PermanentError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.hooks import HookedApplier, HookedSource, Hooks, hooked
from relaybox.ports.applier import Applier


class Boom(Exception):
    pass


def sorting_applier() -> Applier[str]:
    """Delivers records starting with "ok", fails "bad*" records, dead-letters "dead*" ones."""

    async def apply(records: Sequence[str]) -> Outcome[str]:
        delivered = [r for r in records if r.startswith("ok")]
        failed = [Failure(r, Boom(r)) for r in records if r.startswith("bad")]
        dead = [Failure(r, PermanentError(r)) for r in records if r.startswith("dead")]
        return Outcome(delivered, failed, dead)

    return applier(apply)


async def raising(records: Sequence[str]) -> Outcome[str]:
    raise Boom("downstream down")


class ListSource:
    def __init__(self, records: list[str], *, fail_fetch: bool = False) -> None:
        self.records = records
        self.fail_fetch = fail_fetch
        self.settled: list[Outcome[str]] = []

    async def fetch(self, limit: int, /) -> Sequence[str]:
        if self.fail_fetch:
            raise Boom("fetch failed")
        return self.records[:limit]

    async def settle(self, outcome: Outcome[str], /) -> None:
        if outcome.error is not None:
            raise Boom("settle failed")
        self.settled.append(outcome)


async def test_apply_hooks_run_in_order_around_the_inner_applier() -> None:
    calls: list[str] = []
    hooks: Hooks[str] = Hooks(
        before_apply=lambda records: calls.append(f"before:{len(records)}"),
        after_apply=lambda outcome: calls.append(f"after:{len(outcome.delivered)}"),
        on_record=lambda record, error: calls.append(f"record:{record}"),
    )
    wrapped = hooked(hooks)(sorting_applier())
    await wrapped.apply(["ok1", "ok2"])
    assert calls == ["before:2", "after:2", "record:ok1", "record:ok2"]


async def test_on_record_gets_none_for_delivered_and_the_error_for_failed_and_dead() -> None:
    seen: dict[str, BaseException | None] = {}
    wrapped = hooked(Hooks[str](on_record=seen.__setitem__))(sorting_applier())
    await wrapped.apply(["ok", "bad", "dead"])
    assert seen["ok"] is None
    assert isinstance(seen["bad"], Boom)
    assert isinstance(seen["dead"], PermanentError)


async def test_on_record_counts_records_missing_from_the_outcome_as_failed() -> None:
    fatal = Boom("fatal")

    async def partial(records: Sequence[str]) -> Outcome[str]:
        return Outcome(delivered=records[:1], error=fatal)

    seen: list[tuple[str, BaseException | None]] = []
    wrapped = hooked(Hooks[str](on_record=lambda r, e: seen.append((r, e))))(applier(partial))
    await wrapped.apply(["a", "b"])
    assert seen == [("a", None), ("b", fatal)]


async def test_on_record_reports_missing_outcome_when_no_error_is_given() -> None:
    async def forgetful(records: Sequence[str]) -> Outcome[str]:
        return Outcome()

    seen: list[BaseException | None] = []
    wrapped = hooked(Hooks[str](on_record=lambda r, e: seen.append(e)))(applier(forgetful))
    await wrapped.apply(["a"])
    assert isinstance(seen[0], MissingOutcomeError)


async def test_async_hooks_are_awaited() -> None:
    calls: list[str] = []

    async def before(records: Sequence[str]) -> None:
        await asyncio.sleep(0)
        calls.append("before")

    async def on_record(record: str, error: BaseException | None) -> None:
        calls.append(record)

    wrapped = hooked(Hooks[str](before_apply=before, on_record=on_record))(sorting_applier())
    await wrapped.apply(["ok"])
    assert calls == ["before", "ok"]


async def test_after_apply_sees_every_record_failed_when_the_inner_raises_then_reraises() -> None:
    outcomes: list[Outcome[str]] = []
    records: list[BaseException | None] = []
    hooks = Hooks[str](after_apply=outcomes.append, on_record=lambda r, e: records.append(e))
    wrapped = hooked(hooks)(applier(raising))
    with pytest.raises(Boom, match="downstream down") as raised:
        await wrapped.apply(["a", "b"])
    (outcome,) = outcomes
    assert outcome.error is raised.value
    assert [f.record for f in outcome.failed] == ["a", "b"]
    assert all(f.error is raised.value for f in outcome.failed)
    assert records == [raised.value, raised.value]


async def test_hooked_applier_returns_the_inner_outcome_unchanged() -> None:
    result: Outcome[str] = Outcome(delivered=("a",))

    async def fixed(records: Sequence[str]) -> Outcome[str]:
        return result

    wrapped = hooked(Hooks[str](on_record=lambda r, e: None))(applier(fixed))
    assert await wrapped.apply(["a"]) is result


async def test_a_raising_hook_is_logged_and_the_records_are_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object) -> None:
        raise Boom("hook bug")

    hooks = Hooks[str](before_apply=broken, after_apply=broken, on_record=broken)
    wrapped = HookedApplier(sorting_applier(), hooks)
    with caplog.at_level(logging.ERROR, logger="relaybox.hooks"):
        outcome = await wrapped.apply(["ok1", "ok2"])
    assert list(outcome.delivered) == ["ok1", "ok2"]
    assert wrapped.hook_errors == 4
    assert len(caplog.records) == 4
    assert all(r.exc_info and isinstance(r.exc_info[1], Boom) for r in caplog.records)
    assert "hook_errors=4" in repr(wrapped)


async def test_cancellation_skips_the_after_hooks() -> None:
    calls: list[str] = []

    async def cancelled(records: Sequence[str]) -> Outcome[str]:
        raise asyncio.CancelledError

    wrapped = hooked(Hooks[str](after_apply=lambda o: calls.append("after")))(applier(cancelled))
    with pytest.raises(asyncio.CancelledError):
        await wrapped.apply(["a"])
    assert calls == []


async def test_hooked_source_runs_the_fetch_hooks() -> None:
    calls: list[object] = []
    hooks = Hooks[str](
        before_fetch=lambda: calls.append("before"),
        after_fetch=lambda records, error: calls.append((list(records), error)),
    )
    source = HookedSource(ListSource(["a", "b", "c"]), hooks)
    assert list(await source.fetch(2)) == ["a", "b"]
    assert calls == ["before", (["a", "b"], None)]


async def test_hooked_source_after_fetch_sees_the_error_which_is_reraised() -> None:
    calls: list[object] = []
    hooks = Hooks[str](after_fetch=lambda records, error: calls.append((list(records), error)))
    source = HookedSource(ListSource([], fail_fetch=True), hooks)
    with pytest.raises(Boom) as raised:
        await source.fetch(10)
    assert calls == [([], raised.value)]


async def test_hooked_source_runs_the_settle_hooks() -> None:
    calls: list[object] = []
    hooks = Hooks[str](
        before_settle=lambda outcome: calls.append(("before", outcome)),
        after_settle=lambda outcome, error: calls.append(("after", outcome, error)),
    )
    inner = ListSource(["a"])
    outcome: Outcome[str] = Outcome(delivered=("a",))
    await HookedSource(inner, hooks).settle(outcome)
    assert inner.settled == [outcome]
    assert calls == [("before", outcome), ("after", outcome, None)]


async def test_hooked_source_after_settle_sees_the_error_which_is_reraised() -> None:
    errors: list[BaseException | None] = []
    hooks = Hooks[str](after_settle=lambda outcome, error: errors.append(error))
    with pytest.raises(Boom) as raised:
        await HookedSource(ListSource([]), hooks).settle(Outcome(error=Boom("x")))
    assert errors == [raised.value]


def test_hooks_name_the_callbacks_that_are_set() -> None:
    hooks = Hooks[str](before_fetch=lambda: None, on_record=lambda r, e: None)
    assert hooks.names() == ["before_fetch", "on_record"]
    assert "['before_fetch', 'on_record']" in repr(HookedSource(ListSource([]), hooks))
