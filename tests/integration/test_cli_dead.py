"""``relaybox dead`` and ``relaybox keys`` against real SQLite files and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner, Result

from relaybox.cli import relaybox
from relaybox.core.errors import PermanentError
from relaybox.core.events import Event, Message
from relaybox.outbox.relay import Relay
from relaybox.ports.store import DeadFilter
from relaybox.testing.publisher import MemoryPublisher

pytestmark = pytest.mark.integration


async def cli(outbox_db, *args: str, stdin: str | None = None) -> Result:
    """Run ``relaybox ARGS --db URL --table NAME`` for ``outbox_db`` in a worker thread."""
    where = ["--db", outbox_db.url, "--table", outbox_db.tables.name]
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, relaybox, [*args, *where], input=stdin, catch_exceptions=False
    )


def rejecting(topic: str) -> MemoryPublisher:
    """Delivers everything but ``topic``, which fails for good."""

    def fail(message: Message) -> BaseException | None:
        if message.topic == topic:
            return PermanentError(f"the broker rejected {message.json()}")
        return None

    return MemoryPublisher(fail)


async def kill(outbox_db, *events: Event) -> list[str]:
    """Commit ``events`` and relay them: those of topic "bad" become dead letters."""
    await outbox_db.write(*events)
    await Relay(outbox_db.store, rejecting("bad")).drain()
    return [e.id for e in events if e.topic == "bad"]


async def dead_count(outbox_db) -> int:
    return int((await outbox_db.store.status()).dead)


async def test_dead_list_shows_each_letter_and_filters_by_topic(outbox_db) -> None:
    ids = await kill(outbox_db, Event("bad", {"n": 1}), Event("bad", {"n": 2}, key="k"))
    await outbox_db.execute("UPDATE {dead} SET topic = 'worse' WHERE key = 'k'")

    table = await cli(outbox_db, "dead", "list")
    worse = await cli(outbox_db, "dead", "list", "--topic", "worse", "--json")

    assert table.exit_code == 0
    assert all(event_id in table.stdout for event_id in ids)
    letters = [json.loads(line) for line in worse.stdout.splitlines()]
    assert [letter["id"] for letter in letters] == [ids[1]]
    assert letters[0]["payload"] == {"n": 2}
    assert letters[0]["error_type"] == "PermanentError"
    assert letters[0]["attempts"] == 1


async def test_dead_show_prints_error_attempts_and_the_payload_pretty_printed(outbox_db) -> None:
    [event_id] = await kill(outbox_db, Event("bad", {"order": 7, "lines": [1, 2]}, key="o-7"))

    result = await cli(outbox_db, "dead", "show", event_id)

    assert result.exit_code == 0
    out = result.stdout
    assert event_id in out
    assert "the broker rejected {'order': 7, 'lines': [1, 2]}" in out
    assert "attempts" in out
    assert "first failure" in out
    assert "last failure" in out
    assert '"order": 7' in out
    assert '"lines": [\n' in out  # pretty-printed, one item per line


async def test_dead_show_of_an_unknown_id_fails_with_one_line(outbox_db) -> None:
    result = await cli(outbox_db, "dead", "show", "no-such-event")

    assert result.exit_code == 1
    assert result.stderr == "Error: no dead letter with id no-such-event\n"


async def test_dead_replay_refuses_to_touch_everything_without_all(outbox_db) -> None:
    await kill(outbox_db, Event("bad", {"n": 1}))

    result = await cli(outbox_db, "dead", "replay")

    assert result.exit_code == 2
    assert "--all" in result.stderr
    assert await dead_count(outbox_db) == 1


async def test_dead_replay_by_id_puts_the_event_back_and_unparks_its_key(outbox_db) -> None:
    ids = await kill(outbox_db, Event("bad", {"n": 0}, key="k"), Event("good", {"n": 1}, key="k"))

    result = await cli(outbox_db, "dead", "replay", ids[0])
    publisher = MemoryPublisher()
    await Relay(outbox_db.store, publisher).drain()

    assert result.stdout == "replayed 1 dead letter\n"
    assert publisher.published[0].id == ids[0]  # back in front of its key
    assert len(publisher.published) == 2
    status = await outbox_db.store.status()
    assert (status.dead, status.parked_keys, status.pending) == (0, 0, 0)


async def test_dead_replay_all_goes_through_more_than_one_chunk(outbox_db) -> None:
    await kill(outbox_db, *[Event("bad", {"n": n}) for n in range(650)])

    result = await cli(outbox_db, "dead", "replay", "--all")

    assert result.stdout == "replayed 650 dead letters\n"
    status = await outbox_db.store.status()
    assert (status.dead, status.pending) == (0, 650)


async def test_dead_purge_says_how_many_before_asking_and_keeps_them_when_declined(
    outbox_db,
) -> None:
    await kill(outbox_db, Event("bad", {"n": 1}), Event("bad", {"n": 2}), Event("good", {}))

    result = await cli(outbox_db, "dead", "purge", "--topic", "bad", stdin="n\n")

    assert result.exit_code == 1
    assert "2 dead letters match." in result.stderr
    assert "Delete 2 dead letters for good? [y/N]" in result.stderr
    assert "Aborted" in result.stderr
    assert await dead_count(outbox_db) == 2


async def test_dead_replay_of_an_unknown_id_fails_naming_it_and_replays_nothing(
    outbox_db,
) -> None:
    ids = await kill(outbox_db, Event("bad", {"n": 1}))

    result = await cli(outbox_db, "dead", "replay", ids[0], "no-such-event")

    assert result.exit_code == 1
    assert result.stderr == "Error: no dead letter with id no-such-event\n"
    assert await dead_count(outbox_db) == 1


async def test_purging_the_letter_that_parked_a_key_is_refused_without_unpark(outbox_db) -> None:
    ids = await kill(
        outbox_db, Event("bad", {"n": 0}, key="acct-9"), Event("good", {}, key="acct-9")
    )

    refused = await cli(outbox_db, "dead", "purge", ids[0], "--yes")
    purged = await cli(outbox_db, "dead", "purge", ids[0], "--yes", "--unpark")
    publisher = MemoryPublisher()
    await Relay(outbox_db.store, publisher).drain()

    assert refused.exit_code == 2
    assert "key acct-9 is parked on a dead letter to purge" in refused.stderr
    assert "add --unpark" in refused.stderr
    assert purged.exit_code == 0, purged.output
    assert purged.stdout == "purged 1 dead letter\nunparked 1 key: acct-9\n"
    assert [m.topic for m in publisher.published] == ["good"]
    assert (await outbox_db.store.status()).parked_keys == 0


async def test_dead_purge_older_than_spares_fresh_letters(outbox_db) -> None:
    ids = await kill(outbox_db, Event("bad", {"n": 1}), Event("bad", {"n": 2}))

    old = await cli(outbox_db, "dead", "purge", "--older-than", "7d", "--yes")
    one = await cli(outbox_db, "dead", "purge", ids[0], "--yes")

    assert old.stdout == "purged 0 dead letters\n"
    assert one.stdout == "purged 1 dead letter\n"
    remaining = await outbox_db.store.dead_letters(DeadFilter(), 10)
    assert [letter.id for letter in remaining] == [ids[1]]


async def test_dead_purge_all_deletes_every_letter(outbox_db) -> None:
    await kill(outbox_db, *[Event("bad", {"n": n}, key=f"k{n % 3}") for n in range(9)])

    result = await cli(outbox_db, "dead", "purge", "--all", "--yes", "--unpark")

    assert result.stdout == "purged 3 dead letters\nunparked 3 keys: k0, k1, k2\n"
    assert await dead_count(outbox_db) == 0


async def test_dead_purge_rejects_a_bad_age(outbox_db) -> None:
    result = await cli(outbox_db, "dead", "purge", "--older-than", "a while", "--yes")

    assert result.exit_code == 2
    assert "--older-than" in result.stderr


async def test_keys_parked_lists_the_key_and_unpark_lets_its_events_flow(outbox_db) -> None:
    await kill(
        outbox_db, Event("bad", {"n": 0}, key="acct-1"), Event("good", {"n": 1}, key="acct-1")
    )

    parked = await cli(outbox_db, "keys", "parked", "--json")
    unparked = await cli(outbox_db, "keys", "unpark", "acct-1")
    publisher = MemoryPublisher()
    await Relay(outbox_db.store, publisher).drain()
    again = await cli(outbox_db, "keys", "unpark", "acct-1")

    [key] = [json.loads(line) for line in parked.stdout.splitlines()]
    assert (key["key"], key["pending"]) == ("acct-1", 1)
    assert unparked.stdout == "unparked acct-1\n"
    assert [m.json() for m in publisher.published] == [{"n": 1}]
    assert again.exit_code == 1
    assert "not parked" in again.stdout


async def test_keys_parked_prints_a_table(outbox_db) -> None:
    await kill(outbox_db, Event("bad", {"n": 0}, key="acct-2"))

    result = await cli(outbox_db, "keys", "parked")

    assert result.exit_code == 0
    assert "acct-2" in result.stdout
    assert "the broker rejected" in result.stdout
