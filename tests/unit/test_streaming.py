import asyncio
from collections.abc import Sequence

import pytest

from relaybox.core.errors import ConfigurationError, CoordinatorRunningError, FetchError
from relaybox.core.outcome import Failure, Outcome
from relaybox.pipeline.streaming import StreamingCoordinator
from relaybox.testing import FakeClock, MemoryStreamSource, ScriptedApplier, settle


def make(
    applier: object = None, **options: object
) -> tuple[StreamingCoordinator[str], MemoryStreamSource[str], FakeClock]:
    clock = FakeClock()
    source: MemoryStreamSource[str] = MemoryStreamSource()
    coordinator = StreamingCoordinator(
        source,
        applier or ScriptedApplier(),  # type: ignore[arg-type]
        clock=clock,
        **options,  # type: ignore[arg-type]
    )
    return coordinator, source, clock


async def test_a_full_batch_is_flushed_at_once() -> None:
    applier: ScriptedApplier[str] = ScriptedApplier()
    coordinator, source, _ = make(applier, batch_size=2, max_wait=60.0)
    task = asyncio.create_task(coordinator.run())
    source.push("a", "b", "c")
    await settle()
    assert applier.calls == [["a", "b"]]
    await coordinator.stop()
    await task
    assert applier.calls == [["a", "b"], ["c"]]


async def test_a_partial_batch_is_flushed_after_max_wait() -> None:
    applier: ScriptedApplier[str] = ScriptedApplier()
    coordinator, source, clock = make(applier, batch_size=100, max_wait=0.5)
    task = asyncio.create_task(coordinator.run())
    source.push("a")
    await clock.wait_for_sleepers()
    assert applier.calls == []
    await clock.advance(0.5)
    assert applier.calls == [["a"]]
    assert source.acked == ["a"]
    await coordinator.stop()
    await task


async def test_delivered_and_dead_are_acked_failed_are_nacked_with_the_real_error() -> None:
    poison = ValueError("poison")
    transient = OSError("timeout")

    class Mixed:
        async def apply(self, records: Sequence[str]) -> Outcome[str]:
            return Outcome(
                delivered=[records[0]],
                failed=[Failure(records[1], transient)],
                dead=[Failure(records[2], poison)],
            )

    coordinator, source, _ = make(Mixed(), batch_size=3)
    task = asyncio.create_task(coordinator.run())
    source.push("ok", "retry", "dead")
    source.end()
    await task
    assert source.acked == ["ok", "dead"]
    assert source.nacked == [("retry", transient)]


async def test_a_fatal_error_nacks_only_the_records_not_delivered() -> None:
    boom = RuntimeError("broker lost")

    class Partial:
        async def apply(self, records: Sequence[str]) -> Outcome[str]:
            return Outcome(delivered=[records[0]], error=boom)

    coordinator, source, _ = make(Partial(), batch_size=2)
    task = asyncio.create_task(coordinator.run())
    source.push("a", "b")
    source.end()
    await task
    assert source.acked == ["a"]
    assert source.nacked == [("b", boom)]


async def test_the_run_ends_when_the_source_ends_and_closes_it() -> None:
    coordinator, source, _ = make(batch_size=10)
    source.push("a", "b")
    source.end()
    await coordinator.run()
    assert source.acked == ["a", "b"]
    assert source.closed
    assert not coordinator.running


async def test_same_key_records_apply_in_arrival_order_with_many_workers() -> None:
    order: list[str] = []
    gates = {"k0": asyncio.Event(), "k1": asyncio.Event()}

    class Recording:
        async def apply(self, records: Sequence[str]) -> Outcome[str]:
            for record in records:
                if record.endswith(":1"):
                    await gates[record.split(":")[0]].wait()
                order.append(record)
            return Outcome.all_delivered(records)

    coordinator, source, _ = make(
        # Integer keys hash to themselves, so keys 0 and 1 land on different workers.
        Recording(),
        batch_size=1,
        workers=4,
        key=lambda r: int(r[1]),
    )
    task = asyncio.create_task(coordinator.run())
    source.push("k0:1", "k1:1", "k0:2", "k1:2", "k0:3")
    await settle()
    assert order == []  # both keys wait on their first record; nothing overtakes
    gates["k1"].set()
    await settle()
    assert order == ["k1:1", "k1:2"]
    gates["k0"].set()
    source.end()
    await task
    assert [r for r in order if r.startswith("k0")] == ["k0:1", "k0:2", "k0:3"]


async def test_workers_apply_batches_concurrently_without_a_key() -> None:
    started: list[str] = []
    release = asyncio.Event()

    class Blocking:
        async def apply(self, records: Sequence[str]) -> Outcome[str]:
            started.extend(records)
            await release.wait()
            return Outcome.all_delivered(records)

    coordinator, source, _ = make(Blocking(), batch_size=1, workers=3)
    task = asyncio.create_task(coordinator.run())
    source.push("a", "b", "c")
    await settle()
    assert sorted(started) == ["a", "b", "c"]
    release.set()
    source.end()
    await task


async def test_stop_applies_what_was_read_acks_it_and_closes_the_source() -> None:
    release = asyncio.Event()

    class Slow:
        async def apply(self, records: Sequence[str]) -> Outcome[str]:
            await release.wait()
            return Outcome.all_delivered(records)

    coordinator, source, _ = make(Slow(), batch_size=1)
    task = asyncio.create_task(coordinator.run())
    source.push("a", "b")
    await settle()
    stopper = asyncio.create_task(coordinator.stop())
    await settle()
    assert not stopper.done()
    release.set()
    await stopper
    assert task.done()
    assert source.acked == ["a", "b"]
    assert source.closed


async def test_stop_is_idempotent_and_run_refuses_to_run_twice() -> None:
    coordinator, _, _ = make()
    await coordinator.stop()
    task = asyncio.create_task(coordinator.run())
    await settle()
    with pytest.raises(CoordinatorRunningError):
        await coordinator.run()
    await asyncio.gather(coordinator.stop(), coordinator.stop())
    await task
    assert task.exception() is None


async def test_a_failing_source_raises_fetch_error_after_settling_what_it_gave() -> None:
    class Broken(MemoryStreamSource[str]):
        async def records(self):  # type: ignore[no-untyped-def,override]
            yield "a"
            raise OSError("connection reset")

    clock = FakeClock()
    source = Broken()
    coordinator = StreamingCoordinator(source, ScriptedApplier[str](), clock=clock)
    with pytest.raises(FetchError) as info:
        await coordinator.run()
    assert isinstance(info.value.__cause__, OSError)
    assert source.acked == ["a"]
    assert source.closed


async def test_process_one_applies_and_acks_a_single_record() -> None:
    coordinator, source, _ = make(ScriptedApplier(fail_when=lambda r: r == "bad"))
    good = await coordinator.process_one("good")
    bad = await coordinator.process_one("bad")
    assert good.delivered == ("good",) or list(good.delivered) == ["good"]
    assert [f.record for f in bad.failed] == ["bad"]
    assert source.acked == ["good"]
    assert [r for r, _ in source.nacked] == ["bad"]


@pytest.mark.parametrize(
    "options", [{"batch_size": 0}, {"max_wait": 0}, {"workers": 0}, {"grace": -1}]
)
def test_invalid_settings_are_rejected_at_construction(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        make(**options)
