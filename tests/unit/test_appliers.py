import threading

from relaybox.core.outcome import Outcome
from relaybox.pipeline.appliers import applier, process, process_batch
from relaybox.pipeline.chain import chain
from relaybox.ports.applier import Applier


async def test_process_fails_only_the_records_whose_call_raised_and_keeps_order() -> None:
    def handle(n: int) -> None:
        if n % 2:
            raise ValueError(n)

    outcome = await process(handle).apply([0, 1, 2, 3])
    assert list(outcome.delivered) == [0, 2]
    assert [f.record for f in outcome.failed] == [1, 3]
    assert all(isinstance(f.error, ValueError) for f in outcome.failed)


async def test_process_runs_a_sync_function_in_one_worker_thread_per_batch() -> None:
    threads: set[int] = set()
    process_one = process(lambda n: threads.add(threading.get_ident()))
    await process_one.apply(list(range(50)))
    assert len(threads) == 1
    assert threading.get_ident() not in threads


async def test_process_can_run_pure_functions_inline() -> None:
    threads: set[int] = set()
    await process(lambda n: threads.add(threading.get_ident()), offload=False).apply([1])
    assert threads == {threading.get_ident()}


async def test_process_awaits_async_functions_record_by_record() -> None:
    seen: list[int] = []

    async def handle(n: int) -> None:
        seen.append(n)

    outcome = await process(handle).apply([3, 1, 2])
    assert seen == [3, 1, 2]
    assert list(outcome.delivered) == [3, 1, 2]


async def test_process_batch_is_all_or_nothing_and_keeps_the_error() -> None:
    boom = OSError("bulk insert failed")

    async def insert(records: object) -> None:
        raise boom

    outcome = await process_batch(insert).apply(["a", "b"])
    assert [(f.record, f.error) for f in outcome.failed] == [("a", boom), ("b", boom)]
    assert outcome.error is None
    ok = await process_batch(lambda records: None).apply(["a"])
    assert list(ok.delivered) == ["a"]


async def test_applier_wraps_a_function_returning_an_outcome() -> None:
    async def apply(records: object) -> Outcome[str]:
        return Outcome(delivered=("x",))

    assert (await applier(apply).apply(["x"])).delivered == ("x",)


async def test_chain_runs_the_first_middleware_outermost() -> None:
    trace: list[str] = []

    def layer(name: str):  # type: ignore[no-untyped-def]
        def wrap(inner: Applier[int]) -> Applier[int]:
            async def apply(records: object) -> Outcome[int]:
                trace.append(f"{name}>")
                outcome = await inner.apply(records)  # type: ignore[arg-type]
                trace.append(f"<{name}")
                return outcome

            return applier(apply)  # type: ignore[arg-type]

        return wrap

    async def base(n: int) -> None:
        trace.append("apply")

    await chain(layer("a"), layer("b"))(process(base)).apply([1])
    assert trace == ["a>", "b>", "apply", "<b", "<a"]
    assert chain()(process(base)) is not None


async def test_attempt_turns_a_raised_exception_into_the_fatal_error() -> None:
    import asyncio

    import pytest

    from relaybox.ports.applier import attempt

    boom = OSError("lost")

    async def raises(records: object) -> Outcome[str]:
        raise boom

    async def cancelled(records: object) -> Outcome[str]:
        raise asyncio.CancelledError

    assert (await attempt(applier(raises), ["a"])).error is boom
    with pytest.raises(asyncio.CancelledError):
        await attempt(applier(cancelled), ["a"])
