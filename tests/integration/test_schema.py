"""Migrations produce the declared schema, the same on both databases, and run only when asked."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from relaybox.adapters.migrations import latest, migrations
from relaybox.outbox.tables import Tables

pytestmark = pytest.mark.integration

EVENT = {
    "id", "event_id", "topic", "key", "seq", "lane", "type", "aggregate_type", "content_type",
    "payload", "headers", "created_at", "available_at", "attempts", "first_failed_at",
    "last_failed_at", "last_error",
}  # fmt: skip
DECLARED = {
    "": EVENT,
    "_keys": {"key", "last_seq"},
    "_lanes": {
        "lane",
        "owner",
        "token",
        "lease_expires_at",
        "claimed_at",
        "claimed_ids",
        "version",
        "available_at",
        "parked_at",
        "parked_event_id",
        "parked_reason",
    },
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
    assert state.current == latest(outbox_db.dialect) == 1


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
