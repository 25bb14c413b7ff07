"""``relaybox status``: failing events with their next try, counts per topic, ``--watch``."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner, Result

from relaybox.cli import relaybox
from relaybox.core.errors import PermanentError, TemporaryError
from relaybox.core.events import Event, Message
from relaybox.outbox.relay import Relay
from relaybox.testing.publisher import MemoryPublisher

pytestmark = pytest.mark.integration


async def cli(outbox_db, *args: str) -> Result:
    where = ["--db", outbox_db.url, "--table", outbox_db.tables.name]
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, relaybox, [*args, *where], catch_exceptions=False)


def failing(message: Message) -> BaseException | None:
    if message.topic == "mail":
        return TemporaryError("smtp said 451 try later")
    if message.topic == "audit":
        return PermanentError("audit schema mismatch")
    return None


async def seeded(outbox_db) -> None:
    """One delivered order, one retrying mail, one dead audit event, one pending order."""
    await outbox_db.write(Event("orders", {"n": 1}), Event("mail", {"to": "a"}), Event("audit", {}))
    await Relay(outbox_db.store, MemoryPublisher(failing)).drain()
    await outbox_db.write(Event("orders", {"n": 2}))


async def test_status_lists_failing_events_with_next_try_and_counts_per_topic(outbox_db) -> None:
    await seeded(outbox_db)

    as_json = await cli(outbox_db, "status", "--json")
    table = await cli(outbox_db, "status")

    assert as_json.exit_code == table.exit_code == 0, table.output
    status = json.loads(as_json.stdout)
    (mail,) = status["failing"]
    assert (mail["topic"], mail["attempts"]) == ("mail", 1)
    assert "smtp said 451 try later" in mail["error"]
    assert mail["next_try"] is not None  # the durable retry waits for its backoff
    topics = {row["topic"]: row for row in status["topics"]}
    assert topics["mail"] == {"topic": "mail", "pending": 1, "retrying": 1, "dead": 0}
    assert topics["audit"] == {"topic": "audit", "pending": 0, "retrying": 0, "dead": 1}
    assert topics["orders"]["pending"] == 1
    assert (status["pending"], status["retrying"], status["dead"]) == (2, 1, 1)
    for text in ("failing event", "next try", "smtp said 451 try later", "topic", "audit"):
        assert text in table.stdout


async def test_status_watch_refreshes_until_its_count(outbox_db) -> None:
    await seeded(outbox_db)

    result = await cli(outbox_db, "status", "--watch", "--every", "0.1", "--count", "2")
    lines = await cli(outbox_db, "status", "--watch", "--json", "--every", "0.1", "--count", "3")

    assert result.exit_code == 0, result.output
    assert result.stdout.count("relaybox status at ") == 2
    assert result.stdout.count("pending") >= 2
    assert [json.loads(line)["dead"] for line in lines.stdout.splitlines()] == [1, 1, 1]
