"""Names that say what each does; the old names still work for a release, with a warning."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

import relaybox
from relaybox import FetchError, PollingCoordinator, Relay
from relaybox.core.outcome import Outcome
from relaybox.pipeline.polling import PollResult
from relaybox.testing.publisher import MemoryPublisher
from relaybox.testing.sources import MemoryBatchSource


async def test_sync_once_is_one_pass_and_run_once_is_its_deprecated_name() -> None:
    done: list[list[int]] = []

    async def send(record: int) -> None:
        pass

    fresh = await relaybox.sync_once(lambda limit: [1, 2], send, done.append)
    with pytest.deprecated_call(match="renamed relaybox.sync_once"):
        old = await relaybox.run_once(lambda limit: [3], send, done.append)

    assert (fresh.delivered, old.delivered) == (2, 1)
    assert done == [[1, 2], [3]]


def test_catch_up_is_the_coordinators_option_and_drain_its_deprecated_name() -> None:
    async def apply(records: object) -> Outcome[int]:
        return Outcome()

    source: MemoryBatchSource[int] = MemoryBatchSource([])
    assert PollingCoordinator(source, relaybox.applier(apply), catch_up=False).catch_up is False
    with pytest.deprecated_call(match="renamed catch_up"):
        old = PollingCoordinator(source, relaybox.applier(apply), drain=False)
    assert old.catch_up is False


async def test_relay_run_once_is_the_deprecated_name_of_relay_batch(tmp_path: Path) -> None:
    from relaybox.adapters.sqlite import SqliteStore

    store = SqliteStore.open(tmp_path / "outbox.db")
    await store.migrate()
    try:
        relay = Relay(store, MemoryPublisher())
        with pytest.deprecated_call(match=r"renamed Relay.relay_batch\(\)"):
            result = await relay.run_once()
        assert result.fetched == 0
        assert (await relay.relay_batch()).fetched == 0
    finally:
        await store.close()


def test_a_poll_results_repr_counts_records_instead_of_printing_them() -> None:
    records = [f"record-{n}" for n in range(1000)]
    result = PollResult(1000, Outcome(delivered=records))

    assert repr(result) == (
        "PollResult(fetched=1000, delivered=1000, failed=0, dead=0, error=None, duration=0.000)"
    )


async def test_a_fetch_error_says_what_the_users_function_raised() -> None:
    db = sqlite3.connect(":memory:")  # made in this thread; fetch runs in a worker thread

    def fetch(limit: int) -> list[object]:
        assert threading.current_thread() is not threading.main_thread()
        return db.execute("SELECT 1").fetchall()

    result = await relaybox.sync_once(fetch, lambda row: None, lambda rows: None)

    assert isinstance(result.error, FetchError)
    assert "ProgrammingError: SQLite objects created in a thread" in str(result.error)
    assert isinstance(result.error.__cause__, sqlite3.ProgrammingError)
