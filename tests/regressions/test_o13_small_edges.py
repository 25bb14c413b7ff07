"""O-13: the small edges: error text, header values, caller's data, id length, no runtime DDL.

The hazards: an error message cut in the middle of a character (then refused
by the database), header values stringified into surprises like ``1e+06``,
the caller's header map mutated, ids limited to 36 characters, failures of a
relay pass reported as success, and tables created implicitly at run time.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import asyncpg
import pytest

from relaybox.core.errors import (
    EventValidationError,
    PermanentError,
    SchemaMissingError,
    TemporaryError,
)
from relaybox.core.events import Event
from relaybox.outbox.encoding import encode
from relaybox.outbox.relay import Relay
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox
from relaybox.ports.store import DeadFilter
from relaybox.testing.publisher import MemoryPublisher


async def test_o13_a_long_error_is_cut_on_a_code_point_and_stored(outbox_db) -> None:
    await outbox_db.write(Event("orders", key="a"))
    error = PermanentError("é😀" * 3000)
    await Relay(outbox_db.store, MemoryPublisher(lambda m: error)).drain()

    [dead] = await outbox_db.store.dead_letters(DeadFilter(), 10)

    assert dead.error.startswith("PermanentError: é😀é😀")
    assert len(dead.error) <= 4000
    dead.error.encode("utf-8")  # whole characters only


@pytest.mark.parametrize(
    "text", ["NUL \x00 inside", "lone \udcff surrogate"], ids=["nul", "surrogate"]
)
async def test_o13_an_error_text_the_database_cannot_store_does_not_fail_the_settle(
    outbox_db, text: str
) -> None:
    """Error messages come from anywhere (a broker echoing bytes, a decoded file name)."""
    await outbox_db.write(Event("orders", key="a"), Event("orders", key="b"))
    publisher = MemoryPublisher(lambda m: TemporaryError(text) if m.key == "a" else None)
    relay = Relay(outbox_db.store, publisher)

    result = await relay.relay_batch()

    assert result.error is None
    assert (relay.stats.delivered, relay.stats.retried) == (1, 1)
    stored = await outbox_db.scalar("SELECT last_error FROM {events}")
    assert str(stored).startswith("TemporaryError:")


@pytest.mark.parametrize("value", [1, 1e6, None, b"bytes"], ids=repr)
def test_o13_a_header_value_must_be_a_string(value: object) -> None:
    with pytest.raises(EventValidationError) as caught:
        encode(Event("orders", headers={"n": value}))  # type: ignore[dict-item]
    assert caught.value.field == "headers['n']"


def test_o13_the_callers_headers_are_not_changed_by_trace_capture() -> None:
    trace_sdk = pytest.importorskip("opentelemetry.sdk.trace")
    tracer = trace_sdk.TracerProvider().get_tracer("relaybox-regressions")
    headers = {"tenant": "acme"}
    with tracer.start_as_current_span("add"):
        row = encode(Event("orders", headers=headers))
    assert headers == {"tenant": "acme"}
    assert "traceparent" in row.headers


@pytest.mark.parametrize(
    ("field", "event"),
    [
        ("topic", Event("orders \ud800")),
        ("key", Event("orders", key="k\ud800")),
        ("payload", Event("orders", {"name": "\ud800"})),
        ("headers['h']", Event("orders", headers={"h": "\ud800"})),
    ],
    ids=["topic", "key", "payload", "header"],
)
def test_o13_text_that_cannot_be_stored_is_refused_naming_its_field(
    field: str, event: Event
) -> None:
    """A lone surrogate is a str but not storable text: refuse it before the insert."""
    with pytest.raises(EventValidationError) as caught:
        encode(event)
    assert caught.value.field == field


async def test_o13_ids_longer_than_36_characters_are_accepted(outbox_db) -> None:
    long_id = "order-2024-" + "x" * 120
    await outbox_db.write(Event("orders", id=long_id))
    publisher = MemoryPublisher()

    await Relay(outbox_db.store, publisher).drain()

    assert publisher.ids() == [long_id]
    with pytest.raises(EventValidationError, match="id"):
        encode(Event("orders", id="x" * 201))


async def test_o13_nothing_creates_tables_at_run_time(pg_dsn: str, tmp_path: Path) -> None:
    """Neither the writer nor the relay runs DDL; both name the command that does."""
    from relaybox.adapters.postgres import PostgresStore
    from relaybox.adapters.sqlite import SqliteStore

    tables = Tables(f"rbt_{uuid.uuid4().hex[:12]}")
    event = Event("orders")
    conn = await asyncpg.connect(pg_dsn)
    try:
        with pytest.raises(SchemaMissingError, match="relaybox migrate"):
            async with conn.transaction():
                await Outbox(tables).add_async(conn, event)
        pg = await PostgresStore.connect(pg_dsn, tables)
        try:
            with pytest.raises(SchemaMissingError, match="relaybox migrate"):
                await Relay(pg, MemoryPublisher()).relay_batch()
        finally:
            await pg.close()
        assert await conn.fetchval("SELECT to_regclass($1)", tables.lanes) is None
        assert await conn.fetchval("SELECT to_regclass($1)", tables.events) is None
    finally:
        await conn.close()

    path = tmp_path / "empty.db"
    lite = sqlite3.connect(path)
    with pytest.raises(SchemaMissingError, match="relaybox migrate"), lite:
        Outbox(tables).add(lite, event)
    store = SqliteStore.open(path, tables)
    try:
        with pytest.raises(SchemaMissingError, match="relaybox migrate"):
            await Relay(store, MemoryPublisher()).relay_batch()
    finally:
        await store.close()
    assert lite.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    lite.close()
