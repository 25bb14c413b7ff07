"""Outbox.add on SQLite with every supported driver, on the caller's transaction."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, closing
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from writer_txn import Txn

from relaybox.core.errors import ConfigurationError, EventValidationError, SchemaMissingError
from relaybox.core.events import Event
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox

pytestmark = pytest.mark.integration


Opener = Callable[[Path], AbstractAsyncContextManager[Txn]]
"""Opens a connection on one driver and begins a business transaction on it."""


@asynccontextmanager
async def sqlite3_default(path: Path) -> AsyncIterator[Txn]:
    with closing(sqlite3.connect(path)) as conn:  # the default mode begins implicitly
        yield Txn(conn, True, conn.commit, conn.rollback)


@asynccontextmanager
async def sqlite3_explicit(path: Path) -> AsyncIterator[Txn]:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        yield Txn(conn, True, lambda: conn.execute("COMMIT"), lambda: conn.execute("ROLLBACK"))


@asynccontextmanager
async def aiosqlite_connection(path: Path) -> AsyncIterator[Txn]:
    async with aiosqlite.connect(path) as conn:
        yield Txn(conn, False, conn.commit, conn.rollback)


@asynccontextmanager
async def sqlalchemy_connection(path: Path) -> AsyncIterator[Txn]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:  # not begun: the writer must autobegin it
            yield Txn(conn, True, conn.commit, conn.rollback)
    finally:
        engine.dispose()


@asynccontextmanager
async def sqlalchemy_session(path: Path) -> AsyncIterator[Txn]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with Session(engine) as session:
            yield Txn(session, True, session.commit, session.rollback)
    finally:
        engine.dispose()


@asynccontextmanager
async def sqlalchemy_scoped_session(path: Path) -> AsyncIterator[Txn]:
    engine = create_engine(f"sqlite:///{path}")
    scoped = scoped_session(sessionmaker(engine))
    try:
        yield Txn(scoped, True, scoped.commit, scoped.rollback)
    finally:
        scoped.remove()
        engine.dispose()


@asynccontextmanager
async def sqlalchemy_async_connection(path: Path) -> AsyncIterator[Txn]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as conn:
            yield Txn(conn, False, conn.commit, conn.rollback)
    finally:
        await engine.dispose()


@asynccontextmanager
async def sqlalchemy_async_session(path: Path) -> AsyncIterator[Txn]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with AsyncSession(engine) as session:
            yield Txn(session, False, session.commit, session.rollback)
    finally:
        await engine.dispose()


DRIVERS: dict[str, Opener] = {
    "sqlite3": sqlite3_default,
    "sqlite3-explicit-begin": sqlite3_explicit,
    "aiosqlite": aiosqlite_connection,
    "sqlalchemy-connection": sqlalchemy_connection,
    "sqlalchemy-session": sqlalchemy_session,
    "sqlalchemy-scoped-session": sqlalchemy_scoped_session,
    "sqlalchemy-async-connection": sqlalchemy_async_connection,
    "sqlalchemy-async-session": sqlalchemy_async_session,
}


@pytest.fixture(params=list(DRIVERS))
def open_txn(request: pytest.FixtureRequest) -> Opener:
    return DRIVERS[request.param]


def stored(path: Path, tables: Tables) -> list[sqlite3.Row]:
    """The committed events, in insert order."""
    with closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(f"SELECT * FROM {tables.events} ORDER BY id").fetchall()


def last_seq(path: Path, tables: Tables, key: str) -> int | None:
    with closing(sqlite3.connect(path)) as conn:
        found = conn.execute(f"SELECT last_seq FROM {tables.keys} WHERE key = ?", (key,)).fetchone()
    return None if found is None else int(found[0])


# --- every driver -----------------------------------------------------------


async def test_events_are_visible_only_after_the_caller_commits(
    sqlite_store: object, tables: Tables, sqlite_path: Path, open_txn: Opener
) -> None:
    outbox = Outbox(tables)
    async with open_txn(sqlite_path) as txn:
        (event_id,) = await txn.add(outbox, Event("orders", {"n": 1}, key="order-1"))
        assert stored(sqlite_path, tables) == []
        await txn.commit()
    (row,) = stored(sqlite_path, tables)
    assert (row["event_id"], row["key"], row["seq"]) == (event_id, "order-1", 1)


async def test_a_rollback_leaves_no_event_and_no_sequence_bump(
    sqlite_store: object, tables: Tables, sqlite_path: Path, open_txn: Opener
) -> None:
    outbox = Outbox(tables)
    async with open_txn(sqlite_path) as txn:
        await txn.add(outbox, Event("orders", key="order-1"), Event("orders"))
        await txn.rollback()
    assert stored(sqlite_path, tables) == []
    assert last_seq(sqlite_path, tables, "order-1") is None
    async with open_txn(sqlite_path) as txn:
        await txn.add(outbox, Event("orders", key="order-1"))
        await txn.commit()
    assert [row["seq"] for row in stored(sqlite_path, tables)] == [1]


async def test_several_events_in_one_call_get_consecutive_sequences_in_call_order(
    sqlite_store: object, tables: Tables, sqlite_path: Path, open_txn: Opener
) -> None:
    outbox = Outbox(tables)
    keys = ["b", "a", None, "b", "a", "b"]
    async with open_txn(sqlite_path) as txn:
        await txn.add(outbox, Event("orders", key="a"))
        ids = await txn.add(outbox, *(Event("orders", {"n": n}, key=k) for n, k in enumerate(keys)))
        await txn.commit()
    rows = stored(sqlite_path, tables)
    assert [row["event_id"] for row in rows[1:]] == list(ids)
    assert [(row["key"], row["seq"]) for row in rows[1:]] == [
        ("b", 1), ("a", 2), (None, None), ("b", 2), ("a", 3), ("b", 3),
    ]  # fmt: skip
    assert last_seq(sqlite_path, tables, "b") == 3


async def test_a_bad_event_is_rejected_by_name_and_the_transaction_stays_usable(
    sqlite_store: object, tables: Tables, sqlite_path: Path, open_txn: Opener
) -> None:
    outbox = Outbox(tables)
    async with open_txn(sqlite_path) as txn:
        with pytest.raises(EventValidationError) as caught:
            await txn.add(outbox, Event("orders", key="a"), Event("orders", payload={1, 2}))
        assert caught.value.field == "payload"
        await txn.add(outbox, Event("orders", {"ok": True}, key="a"))
        await txn.commit()
    rows = stored(sqlite_path, tables)
    assert [(row["key"], row["seq"], row["payload"]) for row in rows] == [("a", 1, b'{"ok":true}')]


async def test_a_missing_schema_raises_schema_missing_naming_the_migrate_command(
    sqlite_path: Path, open_txn: Opener
) -> None:
    outbox = Outbox("rbt_never_migrated")
    async with open_txn(sqlite_path) as txn:
        with pytest.raises(SchemaMissingError, match="relaybox migrate") as caught:
            await txn.add(outbox, Event("orders", key="a"))
        await txn.rollback()
    assert "rbt_never_migrated" in str(caught.value)
    assert caught.value.__cause__ is not None


# --- one driver is enough ---------------------------------------------------


async def test_each_column_is_stored_as_given(
    sqlite_store: object, tables: Tables, sqlite_path: Path
) -> None:
    when = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)
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
    before = time.time()
    async with sqlite3_default(sqlite_path) as txn:
        await txn.add(Outbox(tables, trace=False), event, Event("audit"))
        await txn.commit()
    given, defaulted = stored(sqlite_path, tables)
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
        "created_at": when.timestamp(),
        "available_at": 0,
        "attempts": 0,
        "lease_expiries": 0,
        "parked": None,
        "first_failed_at": None,
        "last_failed_at": None,
        "last_error": None,
    }
    assert defaulted["created_at"] == pytest.approx(before, abs=60)
    assert defaulted["lane"].startswith("u:")


async def test_an_autocommit_sqlite_connection_is_refused_outside_a_transaction(
    sqlite_store: object, tables: Tables, sqlite_path: Path
) -> None:
    with (
        closing(sqlite3.connect(sqlite_path, isolation_level=None)) as conn,
        pytest.raises(ConfigurationError, match="inside the business transaction"),
    ):
        Outbox(tables).add(conn, Event("orders"))
    async with aiosqlite.connect(sqlite_path, isolation_level=None) as aconn:
        with pytest.raises(ConfigurationError, match="BEGIN"):
            await Outbox(tables).add_async(aconn, Event("orders"))
    engine = create_engine(f"sqlite:///{sqlite_path}", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as sa_conn, pytest.raises(ConfigurationError, match="autocommit"):
            Outbox(tables).add(sa_conn, Event("orders"))
    finally:
        engine.dispose()
    assert stored(sqlite_path, tables) == []


async def test_the_wrong_twin_is_refused_with_the_fix(sqlite_path: Path) -> None:
    with (
        closing(sqlite3.connect(sqlite_path)) as conn,
        pytest.raises(ConfigurationError, match=r"use outbox\.add\("),
    ):
        await Outbox().add_async(conn, Event("orders"))
    async with aiosqlite.connect(sqlite_path) as aconn:
        with pytest.raises(ConfigurationError, match=r"await outbox\.add_async"):
            Outbox().add(aconn, Event("orders"))


async def test_writers_one_after_another_continue_the_key_sequence(
    sqlite_store: object, tables: Tables, sqlite_path: Path
) -> None:
    outbox = Outbox(tables)
    for opener in (sqlite3_default, aiosqlite_connection, sqlite3_default):
        async with opener(sqlite_path) as txn:
            await txn.add(outbox, Event("orders", key="k"), Event("orders", key="k"))
            await txn.commit()
    assert [row["seq"] for row in stored(sqlite_path, tables)] == [1, 2, 3, 4, 5, 6]


# --- trace context ----------------------------------------------------------


async def test_the_active_trace_context_travels_in_the_stored_headers(
    sqlite_store: object, tables: Tables, sqlite_path: Path
) -> None:
    trace_sdk = pytest.importorskip("opentelemetry.sdk.trace")
    tracer = trace_sdk.TracerProvider().get_tracer("relaybox-tests")
    mine = {"tenant": "acme", "traceparent": "00-caller-set-01"}
    plain = {"tenant": "acme"}
    async with sqlite3_default(sqlite_path) as txn:
        with tracer.start_as_current_span("place-order") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            await txn.add(Outbox(tables), Event("orders", headers=plain), Event("x", headers=mine))
            await txn.add(Outbox(tables, trace=False), Event("untraced"))
        await txn.add(Outbox(tables), Event("outside-any-span"))
        await txn.commit()
    traced, caller_set, untraced, outside = (
        json.loads(row["headers"]) for row in stored(sqlite_path, tables)
    )
    assert traced["tenant"] == "acme"
    assert traced["traceparent"].split("-")[1] == trace_id
    assert plain == {"tenant": "acme"}  # the caller's mapping is not changed
    assert caller_set["traceparent"] == "00-caller-set-01"
    assert "traceparent" not in untraced
    assert "traceparent" not in outside
