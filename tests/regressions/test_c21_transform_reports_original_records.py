from __future__ import annotations

from collections.abc import Sequence

from relaybox.core.outcome import Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.transform import transformed


def processed(record: str) -> str:
    return "processed:" + record


async def test_c21_transform_outcome_lists_the_original_records() -> None:
    """The outcome of a transform lists the records the caller passed in, not the new values."""
    applied: list[str] = []

    async def deliver(values: Sequence[str]) -> Outcome[str]:
        applied.extend(values)
        return Outcome.all_delivered(values)

    a, b = "a", "b"
    outcome = await transformed(processed)(applier(deliver)).apply([a, b])
    assert applied == ["processed:a", "processed:b"]
    assert list(outcome.delivered) == ["a", "b"]
    assert outcome.delivered[0] is a
    assert outcome.delivered[1] is b
    assert not outcome.failed
    assert not outcome.dead


async def test_c21_transform_failures_name_the_original_records() -> None:
    """Failed records of a transform are the caller's records, so the source can retry them."""

    async def reject(values: Sequence[str]) -> Outcome[str]:
        return Outcome.all_failed(values, RuntimeError("downstream refused"))

    records = ["a", "b"]
    outcome = await transformed(processed)(applier(reject)).apply(records)
    assert [f.record for f in outcome.failed] == records
    assert all(f.record is r for f, r in zip(outcome.failed, records, strict=True))
