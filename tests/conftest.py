"""Shared fixtures: real databases on loopback, isolated by a unique table name per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relaybox.outbox.tables import Tables

PG_DSN = os.environ.get("RELAYBOX_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_dsn() -> str:
    return PG_DSN


@pytest.fixture
def tables() -> Tables:
    """A fresh outbox name per test, so tests never see each other's rows."""
    return Tables(f"rbt_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.db"


@pytest.fixture
async def pg_store(tables: Tables) -> AsyncIterator[object]:
    from relaybox.adapters.postgres import PostgresStore

    store = await PostgresStore.connect(PG_DSN, tables)
    await store.migrate()
    try:
        yield store
    finally:
        await store.drop()
        await store.close()


@pytest.fixture
async def sqlite_store(tables: Tables, sqlite_path: Path) -> AsyncIterator[object]:
    from relaybox.adapters.sqlite import SqliteStore

    store = SqliteStore.open(sqlite_path, tables)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


class OutboxDb:
    """A migrated outbox on one database, with a way to commit events into it."""

    def __init__(self, dialect: str, store: object, tables: Tables, target: str) -> None:
        from relaybox.outbox.writer import Outbox

        self.dialect = dialect
        self.store = store
        self.tables = tables
        self.target = target
        self.outbox = Outbox(tables)

    @property
    def url(self) -> str:
        return self.target if self.dialect == "postgresql" else f"sqlite:///{self.target}"

    async def write(self, *events: object) -> None:
        """Commit ``events`` in one business transaction."""
        if self.dialect == "postgresql":
            import asyncpg

            conn = await asyncpg.connect(self.target)
            try:
                async with conn.transaction():
                    await self.outbox.add_async(conn, *events)  # type: ignore[arg-type]
            finally:
                await conn.close()
        else:
            import sqlite3

            conn = sqlite3.connect(self.target, timeout=10)
            try:
                with conn:
                    self.outbox.add(conn, *events)  # type: ignore[arg-type]
            finally:
                conn.close()

    async def execute(self, sql: str) -> None:
        """Run raw SQL (``{events}``-style names are filled in), for tests that bend time."""
        sql = self.tables.render(sql)
        if self.dialect == "postgresql":
            import asyncpg

            conn = await asyncpg.connect(self.target)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()
        else:
            import sqlite3

            conn = sqlite3.connect(self.target, timeout=10, isolation_level=None)
            try:
                conn.executescript(sql)
            finally:
                conn.close()

    async def scalar(self, sql: str) -> object:
        sql = self.tables.render(sql)
        if self.dialect == "postgresql":
            import asyncpg

            conn = await asyncpg.connect(self.target)
            try:
                return await conn.fetchval(sql)
            finally:
                await conn.close()
        import sqlite3

        conn = sqlite3.connect(self.target, timeout=10)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()


@pytest.fixture(params=["postgresql", "sqlite"])
async def outbox_db(
    request: pytest.FixtureRequest, tables: Tables, sqlite_path: Path
) -> AsyncIterator[OutboxDb]:
    """The same outbox on real PostgreSQL and on SQLite: tests run once per database."""
    if request.param == "postgresql":
        from relaybox.adapters.postgres import PostgresStore

        pg = await PostgresStore.connect(PG_DSN, tables)
        await pg.migrate()
        try:
            yield OutboxDb("postgresql", pg, tables, PG_DSN)
        finally:
            await pg.drop()
            await pg.close()
    else:
        from relaybox.adapters.sqlite import SqliteStore

        lite = SqliteStore.open(sqlite_path, tables)
        await lite.migrate()
        try:
            yield OutboxDb("sqlite", lite, tables, str(sqlite_path))
        finally:
            await lite.close()
