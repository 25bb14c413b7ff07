from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import pytest

from relaybox.core.errors import ConfigurationError
from relaybox.core.outcome import Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.context import context

tenant: ContextVar[str] = ContextVar("tenant", default="none")
batch_size: ContextVar[int] = ContextVar("batch_size")


def values(records: Sequence[str]) -> Mapping[ContextVar[Any], Any]:
    return {tenant: records[0].split(":")[0], batch_size: len(records)}


async def test_inner_applier_sees_the_prepared_values_and_the_caller_does_not_after() -> None:
    seen: list[tuple[str, int]] = []

    async def inner(records: Sequence[str]) -> Outcome[str]:
        seen.append((tenant.get(), batch_size.get()))
        return Outcome.all_delivered(records)

    outcome = await context(values)(applier(inner)).apply(["acme:1", "acme:2"])
    assert seen == [("acme", 2)]
    assert len(outcome.delivered) == 2
    assert tenant.get() == "none"
    with pytest.raises(LookupError):
        batch_size.get()


async def test_values_are_reset_even_when_the_inner_applier_raises() -> None:
    async def inner(records: Sequence[str]) -> Outcome[str]:
        raise RuntimeError("down")

    token = tenant.set("caller")
    try:
        with pytest.raises(RuntimeError):
            await context(values)(applier(inner)).apply(["acme:1"])
        assert tenant.get() == "caller"
    finally:
        tenant.reset(token)


async def test_async_prepare_is_awaited() -> None:
    async def prepare(records: Sequence[str]) -> Mapping[ContextVar[Any], Any]:
        return {tenant: "async"}

    seen: list[str] = []

    async def inner(records: Sequence[str]) -> Outcome[str]:
        seen.append(tenant.get())
        return Outcome.all_delivered(records)

    await context(prepare)(applier(inner)).apply(["x"])
    assert seen == ["async"]


async def test_a_raising_prepare_applies_nothing() -> None:
    def prepare(records: Sequence[str]) -> Mapping[ContextVar[Any], Any]:
        raise ValueError("no tenant")

    calls: list[Sequence[str]] = []

    async def inner(records: Sequence[str]) -> Outcome[str]:
        calls.append(records)
        return Outcome.all_delivered(records)

    with pytest.raises(ValueError, match="no tenant"):
        await context(prepare)(applier(inner)).apply(["x"])
    assert calls == []


def test_prepare_must_be_callable() -> None:
    with pytest.raises(ConfigurationError, match="prepare"):
        context({tenant: "x"})  # type: ignore[arg-type]
