"""Fresh outbox tables for one measurement, and backlogs in the writer's exact row format.

Every measurement gets its own uniquely named outbox (migrated by the store,
so it has the real indexes) and drops it afterwards. Backlogs are encoded by
the writer's own ``encode`` and loaded with COPY, with ``lane`` and the
per-key ``seq`` (and the ``{keys}`` counters) exactly as ``Outbox.add`` leaves
them, so the relay meets the rows it meets in production.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from outbox_profile import Recorder
from relaybox.adapters.postgres import PostgresStore
from relaybox.core.events import Event
from relaybox.outbox.encoding import encode
from relaybox.outbox.tables import Tables

PAYLOAD_BYTES = 300
COLUMNS = (
    "event_id",
    "topic",
    "key",
    "seq",
    "lane",
    "type",
    "aggregate_type",
    "content_type",
    "payload",
    "headers",
)
BacklogRow = tuple[str, str, str | None, int | None, str, str, str, str, bytes, str]


def fresh_tables() -> Tables:
    return Tables(f"rbbench_{uuid.uuid4().hex[:12]}")


@asynccontextmanager
async def fresh_store(
    dsn: str, tables: Tables, recorder: Recorder | None = None
) -> AsyncIterator[PostgresStore]:
    """A store on a migrated outbox named ``tables``, dropped (and its pool closed) on exit.

    With ``recorder`` the store's pool reports to the recorder.
    """
    if recorder is None:
        store = await PostgresStore.connect(dsn, tables)
    else:
        store = await recorder.connect(dsn, tables)
    try:
        await store.migrate()
        yield store
    finally:
        await store.drop()
        await store.close()


def payload(number: int, key: str) -> dict[str, object]:
    """A JSON payload that encodes to exactly ``PAYLOAD_BYTES`` bytes."""
    body: dict[str, object] = {"order": number, "customer": key, "status": "placed", "note": ""}
    size = len(json.dumps(body, separators=(",", ":")))
    body["note"] = "x" * (PAYLOAD_BYTES - size)
    return body


def backlog(count: int, keys: int, seed: int = 7) -> list[BacklogRow]:
    """``count`` keyed events over ``keys`` random keys, with each key's ``seq`` from 1."""
    rng = random.Random(seed)
    names = [f"customer-{n:05d}" for n in range(keys)]
    seqs: dict[str, int] = {}
    rows: list[BacklogRow] = []
    for number in range(count):
        key = rng.choice(names)
        seq = seqs[key] = seqs.get(key, 0) + 1
        rows.append(backlog_row(number, key, seq))
    return rows


def one_key_backlog(count: int, key: str) -> list[BacklogRow]:
    """``count`` events of the one key ``key``, ``seq`` 1 to ``count``."""
    return [backlog_row(number, key, number + 1) for number in range(count)]


def backlog_row(number: int, key: str, seq: int) -> BacklogRow:
    row = encode(Event("orders", payload(number, key), key=key, type="OrderPlaced"))
    return (
        row.event_id,
        row.topic,
        row.key,
        seq,
        row.lane,
        row.type,
        row.aggregate_type,
        row.content_type,
        row.payload,
        row.headers,
    )


async def load(conn: asyncpg.Connection, tables: Tables, rows: Sequence[BacklogRow]) -> None:
    """COPY ``rows`` and their key counters in, then VACUUM ANALYZE so plans see them."""
    await conn.copy_records_to_table(tables.events, records=rows, columns=COLUMNS)
    last: dict[str, int] = {}
    for row in rows:
        if row[2] is not None and row[3] is not None:
            last[row[2]] = max(last.get(row[2], 0), row[3])
    await conn.copy_records_to_table(tables.keys, records=list(last.items()))
    for table in (tables.events, tables.keys, tables.lanes):
        await conn.execute(f"VACUUM ANALYZE {table}")
