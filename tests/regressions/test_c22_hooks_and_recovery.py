from __future__ import annotations

from collections.abc import Sequence

from relaybox.core.errors import PermanentError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.hooks import Hooks, hooked
from relaybox.pipeline.middleware.recovery import recover


class DownstreamError(Exception):
    pass


async def test_c22_on_record_is_called_once_per_record_with_its_error() -> None:
    """on_record runs once per applied record: None when delivered, else the failure's error."""
    refused = DownstreamError("refused")
    invalid = PermanentError("invalid")

    async def sort(records: Sequence[str]) -> Outcome[str]:
        return Outcome(
            delivered=[records[0]],
            failed=[Failure(records[1], refused)],
            dead=[Failure(records[2], invalid)],
        )

    calls: list[tuple[str, BaseException | None]] = []
    wrapped = hooked(Hooks[str](on_record=lambda r, e: calls.append((r, e))))(applier(sort))
    await wrapped.apply(["ok", "retry", "dead"])
    assert sorted(calls, key=lambda c: c[0]) == [
        ("dead", invalid),
        ("ok", None),
        ("retry", refused),
    ]


async def test_c22_recovery_keeps_the_original_exception_and_its_message() -> None:
    """An exception raised by an applier is kept as is, message included, on every failed record."""
    raised = DownstreamError("connection reset by peer")

    async def crash(records: Sequence[str]) -> Outcome[str]:
        raise raised

    outcome = await recover()(applier(crash)).apply(["a", "b"])
    assert outcome.error is raised
    assert str(outcome.error) == "connection reset by peer"
    assert [f.error for f in outcome.failed] == [raised, raised]
    assert outcome.error.__traceback__ is not None
