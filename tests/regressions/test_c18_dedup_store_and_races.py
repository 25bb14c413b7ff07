from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from relaybox.core.errors import DuplicateInFlightError
from relaybox.core.outcome import Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.dedup import InMemoryDedupStore, deduplicate
from relaybox.testing import FakeClock, ScriptedApplier


@dataclass(eq=False)
class Msg:
    key: str


def key(m: Msg) -> str:
    return m.key


async def test_c18_expired_entries_are_not_seen_before_any_cleanup() -> None:
    """A key older than its ttl counts as unseen at once, whether or not it was purged yet."""
    clock = FakeClock()
    store = InMemoryDedupStore(ttl=60, clock=clock)
    await store.remember(["a"])
    await clock.advance(60)
    assert len(store) == 1
    assert await store.seen(["a"]) == set()


async def test_c18_store_runs_no_background_task() -> None:
    """Creating and using the store starts no task, so nothing outlives it."""
    before = asyncio.all_tasks()
    store = InMemoryDedupStore(ttl=1, clock=FakeClock())
    await store.remember(["a"])
    await store.seen(["a"])
    assert asyncio.all_tasks() == before


async def test_c18_eviction_happens_only_for_new_keys() -> None:
    """Remembering a key already held at capacity refreshes it and evicts nothing."""
    store = InMemoryDedupStore(capacity=2, clock=FakeClock())
    await store.remember(["a", "b"])
    await store.remember(["b"])
    await store.remember(["a"])
    assert await store.seen(["a", "b"]) == {"a", "b"}


async def test_c18_in_batch_duplicates_are_applied_once() -> None:
    """Records sharing a key within one batch reach the downstream once and all share its fate."""
    inner = ScriptedApplier[Msg]()
    batch = [Msg("a"), Msg("a"), Msg("a")]
    outcome = await deduplicate(key)(inner).apply(batch)
    assert inner.calls == [[batch[0]]]
    assert {id(r) for r in outcome.delivered} == {id(r) for r in batch}


async def test_c18_concurrent_applies_do_not_both_apply_one_key() -> None:
    """Two concurrent calls with one key apply it once; the other reports it in flight."""
    applied: list[str] = []

    async def inner(records: Sequence[Msg]) -> Outcome[Msg]:
        await asyncio.sleep(0)
        applied.extend(m.key for m in records)
        return Outcome.all_delivered(records)

    wrapped = deduplicate(key)(applier(inner))
    one, two = await asyncio.gather(wrapped.apply([Msg("k")]), wrapped.apply([Msg("k")]))
    assert applied == ["k"]
    assert len(one.delivered) == 1
    assert isinstance(two.failed[0].error, DuplicateInFlightError)


async def test_c18_fatal_error_lists_each_record_once() -> None:
    """After a fatal inner error every record appears exactly once, delivered ones remembered."""
    boom = RuntimeError("down")
    store = InMemoryDedupStore(clock=FakeClock())

    async def inner(records: Sequence[Msg]) -> Outcome[Msg]:
        return Outcome(delivered=[records[0]], failed=[], error=boom)

    batch = [Msg("a"), Msg("b"), Msg("c")]
    outcome = await deduplicate(key, store)(applier(inner)).apply(batch)
    listed = [*outcome.delivered, *(f.record for f in outcome.failed)]
    assert sorted(map(id, listed)) == sorted(map(id, batch))
    assert await store.seen(["a", "b", "c"]) == {"a"}
