"""The relay against real PostgreSQL and SQLite: delivery, order, retries, dead letters, leases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from relaybox.adapters.postgres import PostgresStore, queries
from relaybox.core.backoff import Backoff, FixedBackoff, RetryPolicy
from relaybox.core.errors import PermanentError, SchemaMissingError, TemporaryError
from relaybox.core.events import Event, Message
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox
from relaybox.pipeline.middleware.retry import retry
from relaybox.ports.store import DeadFilter, Settlement
from relaybox.testing import wait_until
from relaybox.testing.publisher import MemoryPublisher

pytestmark = pytest.mark.integration


def events(key: str | None, count: int, topic: str = "orders") -> list[Event]:
    return [Event(topic, {"n": n}, key=key, type="Step") for n in range(count)]


def numbers(messages: list[Message]) -> list[int]:
    return [m.json()["n"] for m in messages]  # type: ignore[index]


def failing(**rules: BaseException) -> MemoryPublisher:
    """Fail the message whose ``"{key}:{n}"`` is named in ``rules`` with that error, every time."""

    def fail(message: Message) -> BaseException | None:
        return rules.get(f"{message.key}:{message.json()['n']}")  # type: ignore[index]

    return MemoryPublisher(fail)


async def test_every_committed_event_is_delivered_once_in_key_order(outbox_db) -> None:
    for _ in range(3):
        await outbox_db.write(*events("a", 4), *events("b", 3), *events(None, 2))
    publisher = MemoryPublisher()
    relay = Relay(outbox_db.store, publisher, settings=RelaySettings(batch_size=7))

    handled = await relay.drain()

    assert handled == 27
    by_key = publisher.by_key()
    assert numbers(by_key["a"]) == [0, 1, 2, 3] * 3
    assert [m.seq for m in by_key["a"]] == list(range(1, 13))
    assert [m.seq for m in by_key["b"]] == list(range(1, 10))
    assert len(by_key[None]) == 6
    assert len(set(publisher.ids())) == 27
    assert (await outbox_db.store.status()).pending == 0


async def test_a_failed_event_waits_its_backoff_on_the_database_clock_and_holds_its_key(
    outbox_db,
) -> None:
    await outbox_db.write(*events("a", 3), *events("b", 2))
    publisher = failing(**{"a:0": TemporaryError("broker hiccup")})
    settings = RelaySettings(backoff=FixedBackoff(30.0))
    relay = Relay(outbox_db.store, publisher, settings=settings)

    await relay.drain()

    assert numbers(publisher.by_key()["b"]) == [0, 1]
    assert "a" not in publisher.by_key()
    wait = await outbox_db.scalar(
        "SELECT available_at - last_failed_at FROM {events} WHERE attempts = 1"
    )
    seconds = wait.total_seconds() if hasattr(wait, "total_seconds") else wait
    assert seconds == pytest.approx(30.0, abs=0.01)
    error = await outbox_db.scalar("SELECT last_error FROM {events} WHERE attempts = 1")
    assert error == "TemporaryError: broker hiccup"

    # Time passes on the database: the key opens again and flows in order.
    publisher.fail = None
    past = "'-infinity'" if outbox_db.dialect == "postgresql" else "0"
    await outbox_db.execute(
        f"UPDATE {{events}} SET available_at = {past};UPDATE {{lanes}} SET available_at = {past}"
    )
    await relay.drain()
    assert numbers(publisher.by_key()["a"]) == [0, 1, 2]


async def test_a_permanent_failure_is_a_dead_letter_with_its_error_and_parks_its_key(
    outbox_db,
) -> None:
    await outbox_db.write(*events("a", 4), *events("b", 2))
    publisher = failing(**{"a:1": PermanentError("schema mismatch")})
    relay = Relay(outbox_db.store, publisher)

    await relay.drain()

    assert numbers(publisher.by_key()["a"]) == [0]
    assert numbers(publisher.by_key()["b"]) == [0, 1]
    [dead] = await outbox_db.store.dead_letters(DeadFilter(), 10)
    assert (dead.key, dead.seq, dead.attempts) == ("a", 2, 1)
    assert dead.error == "PermanentError: schema mismatch"
    assert dead.error_type == "PermanentError"
    assert dead.first_failed_at is not None
    assert dead.last_failed_at is not None
    [parked] = await outbox_db.store.parked(10)
    assert (parked.key, parked.event_id, parked.pending) == ("a", dead.id, 2)

    assert await outbox_db.store.unpark("a")
    await relay.drain()
    assert numbers(publisher.by_key()["a"]) == [0, 2, 3]


async def test_replaying_the_dead_event_of_a_parked_key_delivers_it_before_the_rest(
    outbox_db,
) -> None:
    await outbox_db.write(*events("a", 4))
    publisher = failing(**{"a:1": PermanentError("bad")})
    relay = Relay(outbox_db.store, publisher)
    await relay.drain()
    publisher.fail = None

    assert await outbox_db.store.replay(DeadFilter(key="a"), None) == 1
    await relay.drain()

    assert numbers(publisher.by_key()["a"]) == [0, 1, 2, 3]
    assert await outbox_db.store.parked(10) == []
    assert (await outbox_db.store.status()).dead == 0


async def test_continue_policy_lets_the_key_flow_past_its_dead_event(outbox_db) -> None:
    await outbox_db.write(*events("a", 3))
    publisher = failing(**{"a:0": PermanentError("bad")})
    relay = Relay(outbox_db.store, publisher, settings=RelaySettings(on_key_failure="continue"))

    await relay.drain()

    assert numbers(publisher.by_key()["a"]) == [1, 2]
    assert await outbox_db.store.parked(10) == []
    assert (await outbox_db.store.status()).dead == 1


async def test_an_event_becomes_a_dead_letter_after_its_last_allowed_attempt(outbox_db) -> None:
    await outbox_db.write(*events(None, 1))
    publisher = failing(**{"None:0": TemporaryError("down")})
    settings = RelaySettings(max_attempts=3, backoff=FixedBackoff(0.0))
    relay = Relay(outbox_db.store, publisher, settings=settings)

    await relay.drain()

    [dead] = await outbox_db.store.dead_letters(DeadFilter(), 10)
    assert dead.attempts == 3
    assert dead.error == "TemporaryError: down"
    assert relay.stats.retried == 2
    assert relay.stats.dead == 1


async def test_a_settle_after_the_lease_expired_and_moved_on_is_rejected(outbox_db) -> None:
    await outbox_db.write(*events("a", 2), *events(None, 2))
    store = outbox_db.store
    first = await store.claim("relay-1", 100, 0.2)
    assert len(first.messages) == 4

    second = first

    async def reclaimed() -> bool:
        nonlocal second
        second = await store.claim("relay-2", 100, 30.0)
        return bool(second.messages)

    await _eventually(reclaimed)
    late = await store.settle(first, Settlement(delivered=first.messages))

    assert late.settled == 0
    assert len(late.lost) == 4
    assert (await store.status()).pending == 4
    assert all((m.attempts, m.lease_expiries) == (0, 1) for m in second.messages)
    assert second.reclaimed == 4
    on_time = await store.settle(second, Settlement(delivered=second.messages))
    assert on_time.settled == 4
    assert (await store.status()).pending == 0


async def test_stop_releases_claimed_events_without_counting_an_attempt(outbox_db) -> None:
    await outbox_db.write(*events("a", 2), *events(None, 2))
    publisher = MemoryPublisher(lambda m: TemporaryError("down"))
    slow_retry = retry(RetryPolicy(attempts=5, backoff=Backoff(initial=60.0, max_delay=60.0)))
    relay = Relay(outbox_db.store, publisher, middleware=[slow_retry])
    task = asyncio.create_task(relay.run())
    await wait_until(lambda: publisher.calls >= 1, what="a first publish")

    await relay.stop()
    await task

    status = await outbox_db.store.status()
    assert (status.pending, status.in_flight, status.retrying) == (4, 0, 0)
    again = await outbox_db.store.claim("next", 100, 30.0)
    assert len(again.messages) == 4


async def test_retention_empties_a_large_dead_letter_backlog_in_bounded_batches(outbox_db) -> None:
    await outbox_db.write(*events(None, 1200))
    publisher = MemoryPublisher(lambda m: PermanentError("nope"))
    settings = RelaySettings(cleanup_batch=100, dead_retention=3600.0)
    relay = Relay(outbox_db.store, publisher, settings=settings)
    await relay.drain()
    assert (await outbox_db.store.status()).dead == 1200
    shift = "interval '2 hours'" if outbox_db.dialect == "postgresql" else "7200"
    await outbox_db.execute(f"UPDATE {{dead}} SET dead_at = dead_at - {shift}")

    removed = await relay.janitor.clean()

    assert removed >= 1200
    assert (await outbox_db.store.status()).dead == 0


async def test_a_relay_on_a_database_without_the_schema_names_the_command_to_run(
    outbox_db,
) -> None:
    await outbox_db.execute("DROP TABLE {events}")
    with pytest.raises(SchemaMissingError, match="relaybox migrate"):
        await outbox_db.store.claim("relay", 10, 30.0)


async def _eventually(check, within: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_run_refuses_to_start_without_the_schema_and_names_the_command(outbox_db) -> None:
    await outbox_db.execute("DELETE FROM {migrations}")
    relay = Relay(outbox_db.store, MemoryPublisher())

    with pytest.raises(SchemaMissingError, match="relaybox migrate"):
        await relay.run()
    assert not relay.running


async def test_status_counts_the_events_of_live_claims_as_in_flight(outbox_db) -> None:
    await outbox_db.write(*events("a", 2), *events(None, 1))
    store = outbox_db.store
    claim = await store.claim("relay", 100, 30.0)

    status = await store.status()
    assert (status.pending, status.in_flight) == (3, 3)

    await store.settle(claim, Settlement(delivered=list(claim.messages)))
    status = await store.status()
    assert (status.pending, status.in_flight) == (0, 0)


async def test_concurrent_claims_on_postgres_never_share_a_lane(
    pg_store: object, pg_dsn: str, tables: Tables
) -> None:
    # Each relay has its own pool; their claims run at the same moment.
    conn = await asyncpg.connect(pg_dsn)
    try:
        async with conn.transaction():
            await Outbox(tables).add_async(
                conn, *(Event("orders", {"n": n}, key=f"k{n % 40}") for n in range(400))
            )
    finally:
        await conn.close()
    relays = [await PostgresStore.connect(pg_dsn, tables) for _ in range(4)]
    delivered: list[str] = []
    try:
        while True:
            claims = await asyncio.gather(*(r.claim(f"relay-{i}", 25, 30.0) for i, r in
                                            enumerate(relays)))  # fmt: skip
            lanes = [lane for claim in claims for lane in claim.lanes]
            assert len(lanes) == len(set(lanes)), "two live claims share a lane"
            if not lanes:
                break
            for relay, claim in zip(relays, claims, strict=True):
                delivered.extend(m.id for m in claim.messages)
                await relay.settle(claim, Settlement(delivered=list(claim.messages)))
    finally:
        for relay in relays:
            await relay.close()
    assert len(delivered) == len(set(delivered)) == 400


Connect = Callable[[], Awaitable[asyncpg.Connection]]


@pytest.fixture
async def connect(pg_dsn: str) -> AsyncIterator[Connect]:
    """Opens connections of the test's own; all are closed afterwards."""
    opened: list[asyncpg.Connection] = []

    async def open_one() -> asyncpg.Connection:
        opened.append(await asyncpg.connect(pg_dsn))
        return opened[-1]

    yield open_one
    for conn in opened:
        await conn.close()


async def until(conn: asyncpg.Connection, what: str, sql: str, *args: object) -> None:
    """Poll ``sql`` on ``conn`` (outside a transaction) until it is true, for 10 s at most."""
    deadline = time.monotonic() + 10
    while not await conn.fetchval(sql, *args):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"


async def test_a_replay_waits_for_a_writer_of_its_key_so_the_key_stays_in_order(
    pg_store: PostgresStore, tables: Tables, connect: Connect
) -> None:
    outbox = Outbox(tables)
    writer, watcher = await connect(), await connect()
    async with writer.transaction():
        await outbox.add_async(writer, *events("k", 3))
    publisher = failing(**{"k:0": PermanentError("bad")})
    relay = Relay(pg_store, publisher)
    await relay.drain()  # k:0 is dead and parks k
    publisher.fail = None

    transaction = writer.transaction()
    await transaction.start()
    await outbox.add_async(writer, Event("orders", {"n": 3}, key="k"))  # holds k's lock
    replaying = asyncio.create_task(pg_store.replay(DeadFilter(key="k"), None))
    waiting = "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND pid <> $1)"
    await until(
        watcher, "the replay waiting for the key's writer", waiting, writer.get_server_pid()
    )
    assert not replaying.done()
    await transaction.commit()
    assert await replaying == 1

    await relay.drain()
    assert numbers(publisher.by_key()["k"]) == [0, 1, 2, 3]


async def test_a_settle_stuck_at_the_moment_its_lease_expires_does_not_stall_other_claims(
    pg_store: PostgresStore, tables: Tables, connect: Connect
) -> None:
    outbox = Outbox(tables)
    stuck, watcher = await connect(), await connect()
    async with stuck.transaction():
        await outbox.add_async(stuck, *events("a", 2))
    first = await pg_store.claim("frozen-relay", 100, 0.5)
    async with stuck.transaction():
        await outbox.add_async(stuck, *events("b", 2))
    # The frozen relay's settle took its lease row, then stopped before committing.
    settling = stuck.transaction()
    await settling.start()
    await stuck.execute(tables.render("DELETE FROM {claims} WHERE token = $1"), first.token)
    expired = tables.render("SELECT expires_at < statement_timestamp() FROM {claims}")
    await until(watcher, "the lease to expire", expired)

    second = await asyncio.wait_for(pg_store.claim("other-relay", 100, 30.0), timeout=10)

    # The stuck lease still blocks its own key; the other key flows.
    assert {m.key for m in second.messages} == {"b"}
    await settling.rollback()


async def test_a_claim_that_waited_for_another_claim_still_gets_its_whole_lease(
    pg_store: PostgresStore, tables: Tables, connect: Connect
) -> None:
    other, watcher = await connect(), await connect()  # the watcher polls outside transactions
    async with other.transaction():
        await Outbox(tables).add_async(other, *events("a", 1))
    holding = other.transaction()
    await holding.start()
    await other.execute(tables.render(queries.LOCK))  # another relay is claiming
    claiming = asyncio.create_task(pg_store.claim("relay", 100, 30.0))
    waited = (
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND clock_timestamp() - xact_start > interval '1 second')"
    )
    await until(watcher, "the claim to wait a second for the lock", waited)
    released_at = await other.fetchval("SELECT clock_timestamp()")
    await holding.commit()
    claim = await claiming

    expires_at = await other.fetchval(
        tables.render("SELECT expires_at FROM {claims} WHERE token = $1"), claim.token
    )
    assert (expires_at - released_at).total_seconds() >= 29.5
