"""Outbox.add on PostgreSQL with every supported driver, on the caller's transaction."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session
from writer_txn import Txn

from relaybox.core.errors import ConfigurationError, EventValidationError, SchemaMissingError
from relaybox.core.events import Event
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox
from relaybox.testing import wait_until

pytestmark = pytest.mark.integration


Opener = Callable[[str], AbstractAsyncContextManager[Txn]]
"""Opens a connection on one driver and begins a business transaction on it."""


def sqlalchemy_url(dsn: str, driver: str) -> str:
    return dsn.replace("postgresql://", f"postgresql+{driver}://", 1)


@asynccontextmanager
async def psycopg_sync(dsn: str) -> AsyncIterator[Txn]:
    with psycopg.connect(dsn) as conn:
        yield Txn(conn, True, conn.commit, conn.rollback)


@asynccontextmanager
async def psycopg_async(dsn: str) -> AsyncIterator[Txn]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        yield Txn(conn, False, conn.commit, conn.rollback)


@asynccontextmanager
async def asyncpg_connection(dsn: str) -> AsyncIterator[Txn]:
    conn = await asyncpg.connect(dsn)
    try:
        transaction = conn.transaction()
        await transaction.start()
        yield Txn(conn, False, transaction.commit, transaction.rollback)
    finally:
        await conn.close()


@asynccontextmanager
async def asyncpg_pool(dsn: str) -> AsyncIterator[Txn]:
    async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool, pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        yield Txn(conn, False, transaction.commit, transaction.rollback)


@asynccontextmanager
async def sqlalchemy_connection(dsn: str) -> AsyncIterator[Txn]:
    engine = create_engine(sqlalchemy_url(dsn, "psycopg"))
    try:
        with engine.connect() as conn:  # not begun: the writer must autobegin it
            yield Txn(conn, True, conn.commit, conn.rollback)
    finally:
        engine.dispose()


@asynccontextmanager
async def sqlalchemy_session(dsn: str) -> AsyncIterator[Txn]:
    engine = create_engine(sqlalchemy_url(dsn, "psycopg"))
    try:
        with Session(engine) as session:
            yield Txn(session, True, session.commit, session.rollback)
    finally:
        engine.dispose()


def sqlalchemy_async_connection(driver: str) -> Opener:
    @asynccontextmanager
    async def open_txn(dsn: str) -> AsyncIterator[Txn]:
        engine = create_async_engine(sqlalchemy_url(dsn, driver))
        try:
            async with engine.connect() as conn:
                yield Txn(conn, False, conn.commit, conn.rollback)
        finally:
            await engine.dispose()

    return open_txn


def sqlalchemy_async_session(driver: str) -> Opener:
    @asynccontextmanager
    async def open_txn(dsn: str) -> AsyncIterator[Txn]:
        engine = create_async_engine(sqlalchemy_url(dsn, driver))
        try:
            async with AsyncSession(engine) as session:
                yield Txn(session, False, session.commit, session.rollback)
        finally:
            await engine.dispose()

    return open_txn


DRIVERS: dict[str, Opener] = {
    "psycopg": psycopg_sync,
    "psycopg-async": psycopg_async,
    "asyncpg": asyncpg_connection,
    "asyncpg-pool": asyncpg_pool,
    "sqlalchemy-connection": sqlalchemy_connection,
    "sqlalchemy-session": sqlalchemy_session,
    "sqlalchemy-async-connection-psycopg": sqlalchemy_async_connection("psycopg"),
    "sqlalchemy-async-session-psycopg": sqlalchemy_async_session("psycopg"),
    "sqlalchemy-async-connection-asyncpg": sqlalchemy_async_connection("asyncpg"),
    "sqlalchemy-async-session-asyncpg": sqlalchemy_async_session("asyncpg"),
}


@pytest.fixture(params=list(DRIVERS))
def open_txn(request: pytest.FixtureRequest) -> Opener:
    return DRIVERS[request.param]


@pytest.fixture
async def reader(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def stored(reader: asyncpg.Connection, tables: Tables) -> list[asyncpg.Record]:
    """The committed events, in insert order."""
    return await reader.fetch(f"SELECT * FROM {tables.events} ORDER BY id")


async def last_seq(reader: asyncpg.Connection, tables: Tables, key: str) -> int | None:
    value = await reader.fetchval(f"SELECT last_seq FROM {tables.keys} WHERE key = $1", key)
    return None if value is None else int(value)


# --- every driver -----------------------------------------------------------


async def test_events_are_visible_only_after_the_caller_commits(
    pg_store: object, tables: Tables, pg_dsn: str, reader: asyncpg.Connection, open_txn: Opener
) -> None:
    outbox = Outbox(tables)
    async with open_txn(pg_dsn) as txn:
        (event_id,) = await txn.add(outbox, Event("orders", {"n": 1}, key="order-1"))
        assert await stored(reader, tables) == []
        await txn.commit()
    (row,) = await stored(reader, tables)
    assert (row["event_id"], row["key"], row["seq"]) == (event_id, "order-1", 1)


async def test_a_rollback_leaves_no_event_and_no_sequence_bump(
    pg_store: object, tables: Tables, pg_dsn: str, reader: asyncpg.Connection, open_txn: Opener
) -> None:
    outbox = Outbox(tables)
    async with open_txn(pg_dsn) as txn:
        await txn.add(outbox, Event("orders", key="order-1"), Event("orders"))
        await txn.rollback()
    assert await stored(reader, tables) == []
    assert await last_seq(reader, tables, "order-1") is None
    async with open_txn(pg_dsn) as txn:
        await txn.add(outbox, Event("orders", key="order-1"))
        await txn.commit()
    assert [row["seq"] for row in await stored(reader, tables)] == [1]


async def test_several_events_in_one_call_get_consecutive_sequences_in_call_order(
    pg_store: object, tables: Tables, pg_dsn: str, reader: asyncpg.Connection, open_txn: Opener
) -> None:
    outbox = Outbox(tables)
    keys = ["b", "a", None, "b", "a", "b"]
    async with open_txn(pg_dsn) as txn:
        await txn.add(outbox, Event("orders", key="a"))
        ids = await txn.add(outbox, *(Event("orders", {"n": n}, key=k) for n, k in enumerate(keys)))
        await txn.commit()
    rows = await stored(reader, tables)
    assert [row["event_id"] for row in rows[1:]] == list(ids)
    assert [(row["key"], row["seq"]) for row in rows[1:]] == [
        ("b", 1), ("a", 2), (None, None), ("b", 2), ("a", 3), ("b", 3),
    ]  # fmt: skip
    assert await last_seq(reader, tables, "b") == 3


async def test_a_bad_event_is_rejected_by_name_and_the_transaction_stays_usable(
    pg_store: object, tables: Tables, pg_dsn: str, reader: asyncpg.Connection, open_txn: Opener
) -> None:
    outbox = Outbox(tables)
    async with open_txn(pg_dsn) as txn:
        with pytest.raises(EventValidationError) as caught:
            await txn.add(outbox, Event("orders", key="a"), Event("orders", headers={"n": 1}))  # type: ignore[dict-item]
        assert caught.value.field == "headers['n']"
        await txn.add(outbox, Event("orders", {"ok": True}, key="a"))
        await txn.commit()
    rows = await stored(reader, tables)
    assert [(row["key"], row["seq"], row["payload"]) for row in rows] == [("a", 1, b'{"ok":true}')]


async def test_a_missing_schema_raises_schema_missing_naming_the_migrate_command(
    pg_dsn: str, open_txn: Opener
) -> None:
    outbox = Outbox("rbt_never_migrated")
    async with open_txn(pg_dsn) as txn:
        with pytest.raises(SchemaMissingError, match="relaybox migrate") as caught:
            await txn.add(outbox, Event("orders", key="a"))
        await txn.rollback()
    assert "rbt_never_migrated" in str(caught.value)
    assert caught.value.__cause__ is not None


# --- one driver is enough ---------------------------------------------------


async def test_each_column_is_stored_as_given(
    pg_store: object, tables: Tables, pg_dsn: str, reader: asyncpg.Connection
) -> None:
    when = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    event = Event(
        "orders",
        b"\x00\xff",
        key="order-1",
        type="OrderPlaced",
        aggregate_type="Order",
        headers={"tenant": "acme"},
        content_type="application/x-protobuf",
        created_at=when,
    )
    async with asyncpg_connection(pg_dsn) as txn:
        await txn.add(Outbox(tables, trace=False), event, Event("audit"))
        await txn.commit()
    given, defaulted = await stored(reader, tables)
    assert dict(given) | {"id": 0} == {
        "id": 0,
        "event_id": event.id,
        "topic": "orders",
        "key": "order-1",
        "seq": 1,
        "lane": "k:order-1",
        "type": "OrderPlaced",
        "aggregate_type": "Order",
        "content_type": "application/x-protobuf",
        "payload": b"\x00\xff",
        "headers": '{"tenant":"acme"}',
        "created_at": when,
        "available_at": given["available_at"],
        "attempts": 0,
        "lease_expiries": 0,
        "parked": None,
        "first_failed_at": None,
        "last_failed_at": None,
        "last_error": None,
    }
    database_now = await reader.fetchval("SELECT now()")
    assert defaulted["created_at"] <= database_now
    assert defaulted["lane"].startswith("u:")


async def test_add_is_one_statement_however_many_events(
    pg_store: object, tables: Tables, pg_dsn: str, reader: asyncpg.Connection
) -> None:
    outbox = Outbox(tables)
    statements: list[str] = []
    conn = await asyncpg.connect(pg_dsn)
    try:
        async with conn.transaction():
            # The first call on a connection also runs asyncpg's one-time type introspection.
            await outbox.add_async(conn, Event("orders", key="k0"), Event("orders", key="k0"))
            conn.add_query_logger(lambda record: statements.append(record.query))
            events = [Event("orders", {"n": n}, key=f"k{n % 4}") for n in range(400)]
            await outbox.add_async(conn, *events)
            # asyncpg calls query loggers soon after, in order: wait for a marker query.
            await conn.execute("SELECT 'marker'")
            await wait_until(lambda: "SELECT 'marker'" in statements, what="the query log")
    finally:
        await conn.close()
    assert len(statements[: statements.index("SELECT 'marker'")]) == 1
    rows = await stored(reader, tables)
    assert len(rows) == 402
    assert [r["seq"] for r in rows if r["key"] == "k0"] == list(range(1, 103))
    assert [r["seq"] for r in rows if r["key"] == "k3"] == list(range(1, 101))


async def test_zero_events_is_a_no_op(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await Outbox("rbt_never_migrated").add_async(conn) == ()
    finally:
        await conn.close()


# --- refusals ---------------------------------------------------------------


async def test_an_autocommit_psycopg_connection_is_refused_outside_a_transaction(
    pg_store: object, tables: Tables, pg_dsn: str, reader: asyncpg.Connection
) -> None:
    outbox = Outbox(tables)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        with pytest.raises(ConfigurationError, match="inside the business transaction"):
            outbox.add(conn, Event("orders"))
        with conn.transaction():  # an explicit transaction makes it fine
            outbox.add(conn, Event("orders"))
    assert len(await stored(reader, tables)) == 1


async def test_an_async_autocommit_psycopg_connection_is_refused(pg_dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        with pytest.raises(ConfigurationError, match="autocommit"):
            await Outbox().add_async(conn, Event("orders"))


async def test_an_asyncpg_connection_outside_a_transaction_is_refused(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        with pytest.raises(ConfigurationError, match=r"conn\.transaction\(\)"):
            await Outbox().add_async(conn, Event("orders"))
    finally:
        await conn.close()


async def test_sqlalchemy_autocommit_engines_are_refused(pg_dsn: str) -> None:
    engine = create_engine(sqlalchemy_url(pg_dsn, "psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn, pytest.raises(ConfigurationError, match="autocommit"):
            Outbox().add(conn, Event("orders"))
    finally:
        engine.dispose()
    async_engine = create_async_engine(
        sqlalchemy_url(pg_dsn, "asyncpg"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with async_engine.connect() as aconn:
            with pytest.raises(ConfigurationError, match="AUTOCOMMIT"):
                await Outbox().add_async(aconn, Event("orders"))
    finally:
        await async_engine.dispose()


async def test_an_async_connection_given_to_add_is_refused_with_the_fix(pg_dsn: str) -> None:
    async with asyncpg_connection(pg_dsn) as txn:
        with pytest.raises(ConfigurationError, match=r"await outbox\.add_async"):
            Outbox().add(txn.tx, Event("orders"))


async def test_a_sync_connection_given_to_add_async_is_refused_with_the_fix(pg_dsn: str) -> None:
    async with psycopg_sync(pg_dsn) as txn:
        with pytest.raises(ConfigurationError, match=r"use outbox\.add\("):
            await Outbox().add_async(txn.tx, Event("orders"))


@pytest.mark.parametrize("tx", [object(), "postgresql://x", None])
async def test_an_unknown_connection_type_is_refused_listing_the_supported_ones(tx: object) -> None:
    with pytest.raises(ConfigurationError, match=r"psycopg\.Connection") as caught:
        Outbox().add(tx, Event("t"))
    assert "asyncpg.Connection" in str(caught.value)
    with pytest.raises(ConfigurationError, match=r"aiosqlite\.Connection"):
        await Outbox().add_async(tx, Event("t"))


async def test_a_bad_event_is_refused_before_the_connection_is_looked_at() -> None:
    with pytest.raises(EventValidationError, match="topic"):
        Outbox().add(object(), Event(""))


# --- order between transactions ----------------------------------------------


async def wait_for_lock_wait(reader: asyncpg.Connection, conn: asyncpg.Connection) -> None:
    """Wait until ``conn``'s session is queued behind a row lock."""
    pid = conn.get_server_pid()
    query = "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted)"
    deadline = time.monotonic() + 10
    while not await reader.fetchval(query, pid):
        assert time.monotonic() < deadline, f"session {pid} never waited for a lock"


async def test_two_writers_of_one_key_get_sequences_in_commit_order(
    pg_store: object, tables: Tables, pg_dsn: str, reader: asyncpg.Connection
) -> None:
    outbox = Outbox(tables)
    async with asyncpg_connection(pg_dsn) as first, asyncpg_connection(pg_dsn) as second:
        (first_id,) = await first.add(outbox, Event("orders", key="order-1"))
        pending = asyncio.create_task(second.add(outbox, Event("orders", key="order-1")))
        await wait_for_lock_wait(reader, second.tx)  # type: ignore[arg-type]
        assert not pending.done()
        await first.commit()
        (second_id,) = await pending
        await second.commit()
    rows = await stored(reader, tables)
    assert [(r["event_id"], r["seq"]) for r in rows] == [(first_id, 1), (second_id, 2)]


@pytest.mark.parametrize("per_call", [1, 2])
async def test_a_keys_ids_rise_with_its_sequence_even_for_a_writer_that_waited(
    pg_store: object, tables: Tables, pg_dsn: str, reader: asyncpg.Connection, per_call: int
) -> None:
    # The relay delivers a key's events in id order, so an id must be drawn
    # after the key's lock is granted, never while waiting for it.
    outbox = Outbox(tables)
    async with asyncpg_connection(pg_dsn) as first, asyncpg_connection(pg_dsn) as second:

        def batch() -> list[Event]:
            return [Event("orders", key="order-1") for _ in range(per_call)]

        await first.add(outbox, *batch())
        pending = asyncio.create_task(second.add(outbox, *batch()))
        await wait_for_lock_wait(reader, second.tx)  # type: ignore[arg-type]
        await first.add(outbox, *batch())
        await first.commit()
        await pending
        await second.commit()
    rows = await stored(reader, tables)
    assert [r["seq"] for r in rows] == list(range(1, 3 * per_call + 1))


async def test_a_writer_that_rolls_back_leaves_no_gap_for_the_one_behind_it(
    pg_store: object, tables: Tables, pg_dsn: str, reader: asyncpg.Connection
) -> None:
    outbox = Outbox(tables)
    async with asyncpg_connection(pg_dsn) as first, asyncpg_connection(pg_dsn) as second:
        await first.add(outbox, Event("orders", key="order-1"))
        pending = asyncio.create_task(second.add(outbox, Event("orders", key="order-1")))
        await wait_for_lock_wait(reader, second.tx)  # type: ignore[arg-type]
        await first.rollback()
        await pending
        await second.commit()
    assert [r["seq"] for r in await stored(reader, tables)] == [1]


async def test_concurrent_writers_of_shared_keys_neither_deadlock_nor_leave_gaps(
    pg_store: object, tables: Tables, pg_dsn: str, reader: asyncpg.Connection
) -> None:
    outbox = Outbox(tables)

    async def write(keys: list[str]) -> None:
        async with psycopg_async(pg_dsn) as txn:
            for _ in range(5):
                await txn.add(outbox, *(Event("orders", key=k) for k in keys))
                await txn.commit()

    # Each call names the keys in its own order; the writer locks them in one order.
    await asyncio.gather(*(write(["a", "b", "c"] if n % 2 else ["c", "b", "a"]) for n in range(6)))
    rows = await stored(reader, tables)
    for key in "abc":
        seqs = [r["seq"] for r in rows if r["key"] == key]
        assert sorted(seqs) == list(range(1, 31))
        assert seqs == sorted(seqs)  # inserted (committed) in sequence order


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
async def test_the_business_change_and_its_event_commit_or_roll_back_together(
    pg_store: object, tables: Tables, pg_dsn: str, reader: asyncpg.Connection, driver: str
) -> None:
    orders = f"{tables.name}_orders"
    await reader.execute(f"CREATE TABLE {orders} (id int PRIMARY KEY)")
    engine = create_async_engine(sqlalchemy_url(pg_dsn, driver))
    try:
        for order_id, keep in ((1, False), (2, True)):
            async with AsyncSession(engine) as session:
                await session.execute(text(f"INSERT INTO {orders} VALUES ({order_id})"))
                await Outbox(tables).add_async(session, Event("orders", {"id": order_id}))
                await (session.commit() if keep else session.rollback())
        assert [row["id"] for row in await reader.fetch(f"SELECT id FROM {orders}")] == [2]
        assert [row["payload"] for row in await stored(reader, tables)] == [b'{"id":2}']
    finally:
        await engine.dispose()
        await reader.execute(f"DROP TABLE {orders}")
