"""``relay --once`` for scripts: exit statuses, ``--json``, stdout kept for events, early checks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from relaybox.cli import relaybox
from relaybox.core.errors import PermanentError, TemporaryError
from relaybox.core.events import Event, Message
from relaybox.service.publishers import SCHEMES, PublisherOptions
from relaybox.testing.publisher import MemoryPublisher

pytestmark = pytest.mark.integration


def failing_publisher(url: str, options: PublisherOptions) -> MemoryPublisher:
    """``failing://retry`` fails each event for now, ``failing://dead`` for good."""
    error = PermanentError if url.endswith("dead") else TemporaryError

    def fail(message: Message) -> BaseException:
        return error(f"the broker said no to {message.id}")

    return MemoryPublisher(fail)


@pytest.fixture(autouse=True)
def failing_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    """A destination that fails on demand, registered the way broker publishers are."""
    monkeypatch.setitem(SCHEMES, "failing", f"{__name__}:failing_publisher")


async def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, relaybox, list(args), env=env, catch_exceptions=False
    )


def where(outbox_db) -> list[str]:
    return ["--db", outbox_db.url, "--table", outbox_db.tables.name]


async def test_relay_once_exits_zero_and_prints_json_when_everything_was_delivered(
    outbox_db, tmp_path: Path
) -> None:
    await outbox_db.write(Event("orders", {"n": 1}, key="k"), Event("orders", {"n": 2}, key="k"))
    target = tmp_path / "out.jsonl"

    result = await cli("relay", "--once", "--json", *where(outbox_db), "--to", f"file:{target}")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["delivered"] == 2
    assert (summary["retried"], summary["dead"], summary["exit_status"]) == (0, 0, 0)
    assert len(target.read_text().splitlines()) == 2


async def test_relay_once_exits_three_when_events_will_be_retried(outbox_db) -> None:
    await outbox_db.write(Event("orders", {"n": 1}))

    result = await cli("relay", "--once", "--json", *where(outbox_db), "--to", "failing://retry")

    assert result.exit_code == 3, result.output
    summary = json.loads(result.stdout)
    assert summary["delivered"] == 0
    assert summary["retried"] + summary["released"] == 1


async def test_relay_once_exits_four_when_an_event_was_dead_lettered(outbox_db) -> None:
    await outbox_db.write(Event("orders", {"n": 1}))

    result = await cli("relay", "--once", *where(outbox_db), "--to", "failing://dead")

    assert result.exit_code == 4, result.output
    assert "dead 1" in result.stdout


async def test_with_to_stdout_the_summary_goes_to_stderr_and_stdout_holds_only_events(
    outbox_db,
) -> None:
    await outbox_db.write(*[Event("orders", {"n": n}, key="k") for n in range(3)])

    text = await cli("-v", "relay", "--once", *where(outbox_db), "--to", "-")
    as_json = await cli("relay", "--once", "--json", *where(outbox_db), "--to", "-")

    assert text.exit_code == 0, text.output
    events = [json.loads(line) for line in text.stdout.splitlines()]
    assert [event["payload"] for event in events] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert "relayed 3 events" in text.stderr
    assert as_json.stdout == ""
    assert json.loads(as_json.stderr.splitlines()[-1])["handled"] == 0


async def test_relay_help_documents_the_exit_statuses() -> None:
    result = await cli("relay", "--help")

    text = " ".join(result.stdout.split())
    for status in ("0 delivered everything due", "2 fix the invocation", "3 some events failed"):
        assert status in text
    assert "4 some were dead-lettered" in text


async def test_a_destination_in_a_missing_folder_fails_at_once_with_one_line(outbox_db) -> None:
    await outbox_db.write(Event("orders", {"n": 1}))

    result = await cli("relay", "--once", *where(outbox_db), "--to", "file:///missing-dir/x.jsonl")

    assert result.exit_code == 2
    assert result.stderr == (
        "Error: cannot write events to file:///missing-dir/x.jsonl: the folder /missing-dir "
        "does not exist; create it first\n"
    )
    assert (await outbox_db.store.status()).pending == 1


async def test_a_destination_that_is_a_folder_is_refused(outbox_db, tmp_path: Path) -> None:
    result = await cli("relay", "--once", *where(outbox_db), "--to", f"file:{tmp_path}")

    assert result.exit_code == 2
    assert "is a folder; name a file in it" in result.stderr


async def test_json_logs_are_one_object_per_line_on_stderr(outbox_db) -> None:
    await outbox_db.write(Event("orders", {"n": 1}))

    result = await cli(
        "--log-format",
        "json",
        "--log-level",
        "debug",
        "relay",
        "--once",
        *where(outbox_db),
        "--to",
        "-",
    )

    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert logs
    assert all({"time", "level", "logger", "message"} <= set(line) for line in logs)
    assert any(line.get("event") == "records.fetched" for line in logs)  # extra= fields kept
    assert [json.loads(line)["payload"] for line in result.stdout.splitlines()] == [{"n": 1}]


async def test_a_destination_that_fails_every_write_is_retried_without_a_traceback(
    outbox_db,
) -> None:
    await outbox_db.write(Event("orders", {"n": 1}))

    # /dev/full opens and then refuses every write, the flush at close included.
    result = await cli("relay", "--once", *where(outbox_db), "--to", "file:///dev/full")

    assert result.exit_code == 3, result.output
    assert "retried 1" in result.stdout
    assert (await outbox_db.store.status()).pending == 1
