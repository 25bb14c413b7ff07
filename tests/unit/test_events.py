import logging

import pytest

from relaybox.core.errors import FetchError
from relaybox.pipeline.events import (
    CallbackObserver,
    CountingObserver,
    LoggingObserver,
    Observers,
)
from relaybox.pipeline.polling import PollingCoordinator
from relaybox.testing import MemoryBatchSource, ScriptedApplier


async def run_one_poll(*observers: object) -> None:
    source = MemoryBatchSource(["a", "bad", "c"])
    applier: ScriptedApplier[str] = ScriptedApplier(fail_when=lambda r: r == "bad")
    coordinator = PollingCoordinator(source, applier, observer=Observers(observers))  # type: ignore[arg-type]
    await coordinator.run_once()
    source.fetch_error = OSError("db down")
    await coordinator.run_once()


async def test_callback_observer_calls_each_callback_with_its_figures() -> None:
    seen: list[tuple[str, object]] = []
    observer = CallbackObserver(
        fetched=lambda n: seen.append(("fetched", n)),
        applied=lambda d, f, x: seen.append(("applied", (d, f, x))),
        settled=lambda n: seen.append(("settled", n)),
        poll_duration=lambda s: seen.append(("poll", s >= 0)),
        apply_duration=lambda s: seen.append(("apply", s >= 0)),
        error=lambda kind, error: seen.append(("error", kind)),
    )
    await run_one_poll(observer)
    assert seen == [
        ("fetched", 3),
        ("apply", True),
        ("applied", (2, 1, 0)),
        ("settled", 3),
        ("poll", True),
        ("error", "fetch"),
        ("poll", True),
    ]


async def test_counting_observer_keeps_totals_and_errors_by_kind() -> None:
    observer = CountingObserver()
    await run_one_poll(observer)
    assert dict(observer.totals) == {
        "fetched": 3,
        "delivered": 2,
        "failed": 1,
        "dead": 0,
        "settled": 3,
    }
    assert dict(observer.errors) == {"fetch": 1}
    assert isinstance(observer.last_error, FetchError)


async def test_logging_observer_logs_errors_with_the_stable_event_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="relaybox.pipeline"):
        await run_one_poll(LoggingObserver())
    events = [getattr(r, "event", None) for r in caplog.records]
    assert "records.fetched" in events
    errors = [r for r in caplog.records if getattr(r, "event", None) == "error"]
    assert len(errors) == 1
    assert errors[0].levelno == logging.WARNING


async def test_a_failing_observer_does_not_stop_the_others_or_the_pipeline() -> None:
    class Broken:
        def on_event(self, event: object) -> None:
            raise RuntimeError("observer bug")

    counting = CountingObserver()
    await run_one_poll(Broken(), counting)
    assert counting.totals["delivered"] == 2
