"""Migrations produce the declared schema, the same on both databases, and run only when asked."""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from relaybox.adapters.migrations import latest, migrations
from relaybox.core.events import Event
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox
from relaybox.ports.store import Settlement

pytestmark = pytest.mark.integration

EVENT = {
    "id", "event_id", "topic", "key", "seq", "lane", "type", "aggregate_type", "content_type",
    "payload", "headers", "created_at", "available_at", "attempts", "first_failed_at",
    "last_failed_at", "last_error", "lease_expiries",
}  # fmt: skip
DECLARED = {
    "_keys": {"key", "last_seq"},
    "_lanes": {"lane", "available_at", "parked_at", "parked_event_id", "parked_reason"},
    "_claims": {"token", "owner", "claimed_at", "expires_at", "lanes", "ids"},
    "": EVENT | {"parked"},
    "_dead": (EVENT - {"available_at", "last_error"})
    | {"row_id", "error", "error_type", "dead_at"},
    "_migrations": {"version", "name", "applied_at"},
}


async def columns_on_postgres(dsn: str, tables: Tables) -> dict[str, set[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        found: dict[str, set[str]] = {}
        for suffix in DECLARED:
            rows = await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1",
                tables.name + suffix,
            )
            found[suffix] = {r[0] for r in rows}
        return found
    finally:
        await conn.close()


def columns_on_sqlite(path: str, tables: Tables) -> dict[str, set[str]]:
    conn = sqlite3.connect(path)
    try:
        return {
            suffix: {r[1] for r in conn.execute(f"PRAGMA table_info({tables.name + suffix})")}
            for suffix in DECLARED
        }
    finally:
        conn.close()


async def test_migrations_create_the_declared_tables_on_both_databases(outbox_db) -> None:
    if outbox_db.dialect == "postgresql":
        found = await columns_on_postgres(outbox_db.target, outbox_db.tables)
    else:
        found = columns_on_sqlite(outbox_db.target, outbox_db.tables)
    assert found == DECLARED


async def test_migrating_again_applies_nothing_and_reports_the_latest_version(outbox_db) -> None:
    assert await outbox_db.store.migrate() == []
    state = await outbox_db.store.schema()
    assert state.ready
    assert state.current == latest(outbox_db.dialect) == 3


def test_each_dialect_has_the_same_migrations_in_order() -> None:
    for dialect in ("postgresql", "sqlite"):
        versions = [m.version for m in migrations(dialect, Tables())]
        assert versions == list(range(1, len(versions) + 1))
    assert latest("postgresql") == latest("sqlite")


def test_table_names_are_validated_before_they_reach_sql() -> None:
    from relaybox.core.errors import ConfigurationError

    for bad in ("outbox; DROP TABLE users", "1outbox", "out-box", "x" * 49, ""):
        with pytest.raises(ConfigurationError, match="identifier"):
            Tables(bad)


@pytest.fixture(params=["postgresql", "sqlite"])
async def unmigrated(
    request: pytest.FixtureRequest, tables: Tables, sqlite_path: object, pg_dsn: str
) -> AsyncIterator[Any]:
    """A store on a database without the outbox tables (dropped again afterwards)."""
    if request.param == "postgresql":
        from relaybox.adapters.postgres import PostgresStore

        store: Any = await PostgresStore.connect(pg_dsn, tables)
        try:
            yield store
        finally:
            await store.drop()
            await store.close()
    else:
        from relaybox.adapters.sqlite import SqliteStore

        store = SqliteStore.open(sqlite_path, tables)  # type: ignore[arg-type]
        try:
            yield store
        finally:
            await store.close()


async def test_upgrading_from_v1_keeps_parked_keys_holds_and_leases_and_restores_key_order(
    unmigrated: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = unmigrated
    postgres = type(store).__name__ == "PostgresStore"
    admin = importlib.import_module(
        "relaybox.adapters.postgres.admin" if postgres else "relaybox.adapters.sqlite.admin"
    )
    with monkeypatch.context() as patch:  # a database left at version 1
        patch.setattr(admin, "migrations", lambda dialect, t: migrations(dialect, t)[:1])
        assert await store.migrate() == [1]
    t = store._tables
    outbox = Outbox(t)
    for key in ("parked", "held", "leased", "free", "replayed", "replayed"):
        await write(store, outbox, Event("orders", {"key": key}, key=key))
    leased_id = await scalar(store, f"SELECT id FROM {t.events} WHERE key = 'leased'")
    later = "now() + interval '1 hour'" if postgres else "1e12"
    soon = "now()" if postgres else "0"
    ids = f"ARRAY[{leased_id}]::bigint[]" if postgres else f"'[{leased_id}]'"
    await execute(
        store,
        f"INSERT INTO {t.lanes} (lane, parked_at, parked_event_id, parked_reason) "
        f"VALUES ('k:parked', {soon}, 'e-1', 'PermanentError: bad')",
        f"INSERT INTO {t.lanes} (lane, available_at) VALUES ('k:held', {later})",
        f"INSERT INTO {t.lanes} (lane, owner, token, lease_expires_at, claimed_at, claimed_ids) "
        f"VALUES ('k:leased', 'gone-relay', 7, {later}, {soon}, {ids})",
        # An old replay put the first event of "replayed" back behind the second.
        f"INSERT INTO {t.events} (event_id, topic, key, seq, lane, type, aggregate_type, "
        "content_type, payload, headers, created_at) SELECT event_id, topic, key, seq, lane, "
        f"type, aggregate_type, content_type, payload, headers, created_at FROM {t.events} "
        "WHERE key = 'replayed' AND seq = 1",
        f"DELETE FROM {t.events} WHERE id = (SELECT min(id) FROM {t.events} "
        "WHERE key = 'replayed' AND seq = 1)",
    )

    assert await store.migrate() == [2, 3]

    [parked] = await store.parked(10)
    assert (parked.key, parked.event_id, parked.reason) == ("parked", "e-1", "PermanentError: bad")
    first = await store.claim("relay", 2, 30.0)
    await store.settle(first, Settlement(delivered=list(first.messages)))
    rest = await store.claim("relay", 10, 30.0)
    await store.settle(rest, Settlement(delivered=list(rest.messages)))
    # The parked key, the held key and the key still under its old lease wait;
    # "replayed" comes in its sequence order, across claims too.
    assert [(m.key, m.seq) for m in first.messages] == [("free", 1), ("replayed", 1)]
    assert [(m.key, m.seq) for m in rest.messages] == [("replayed", 2)]

    past = "'-infinity'" if postgres else "0"
    await execute(store, f"UPDATE {t.claims} SET expires_at = {past} WHERE token = 7")
    again = await store.claim("relay", 10, 30.0)
    # The old lease's relay may have published it: that counts as an expired lease.
    assert [(m.key, m.lease_expiries) for m in again.messages] == [("leased", 1)]


async def scalar(store: Any, sql: str) -> Any:
    if type(store).__name__ == "PostgresStore":
        async with store._pool.acquire() as conn:
            return await conn.fetchval(sql)
    return await store._db.run(lambda conn: conn.execute(sql).fetchone()[0])


async def execute(store: Any, *sql: str) -> None:
    if type(store).__name__ == "PostgresStore":
        async with store._pool.acquire() as conn:
            for statement in sql:
                await conn.execute(statement)
    else:

        def work(conn: sqlite3.Connection) -> None:
            with conn:
                for statement in sql:
                    conn.execute(statement)

        await store._db.run(work)


async def write(store: Any, outbox: Outbox, *events: Event) -> None:
    if type(store).__name__ == "PostgresStore":
        async with store._pool.acquire() as conn, conn.transaction():
            await outbox.add_async(conn, *events)
    else:
        conn = sqlite3.connect(store._db.path)
        try:
            with conn:
                outbox.add(conn, *events)
        finally:
            conn.close()
