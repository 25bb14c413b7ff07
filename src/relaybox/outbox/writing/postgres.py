"""Writing events on PostgreSQL: one statement per call, whatever the number of events.

The events travel as one array per column and are unpacked server-side with
``unnest ... WITH ORDINALITY``, so ``add`` costs one round trip for one event
or a thousand. In the same statement, each key's counter in ``{keys}`` is
bumped by the number of its events (an upsert): the row lock it takes holds
other writers of that key until this transaction ends, so sequence order is
commit order and sequences have no gaps. Keys are upserted in sorted order,
so two transactions writing the same keys lock them in the same order and
cannot deadlock each other within one call.

Each event's id is drawn only once its key's lock is granted: the ids come
from the projection over the join with the upsert's rows, never from an
expression that could run before it (a scalar subquery would). So a key's ids
rise with its sequence, and the relay can read a key's events in id order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from relaybox.core.errors import ConfigurationError
from relaybox.outbox.encoding import Row
from relaybox.outbox.tables import Tables

_INSERT = """
WITH input AS (
    SELECT *
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                $6::text[], $7::text[], $8::bytea[], $9::text[], $10::timestamptz[])
         WITH ORDINALITY AS i(event_id, topic, key, lane, type, aggregate_type,
                              content_type, payload, headers, created_at, ord)
),
counts AS (
    SELECT key, count(*) AS n FROM input WHERE key IS NOT NULL GROUP BY key
),
bumped AS (
    INSERT INTO {keys} AS k (key, last_seq)
    SELECT key, n FROM counts ORDER BY key
    ON CONFLICT (key) DO UPDATE SET last_seq = k.last_seq + EXCLUDED.last_seq
    RETURNING k.key, k.last_seq
)
INSERT INTO {events} (event_id, topic, key, seq, lane, type, aggregate_type,
                      content_type, payload, headers, created_at)
SELECT i.event_id, i.topic, i.key,
       b.last_seq - c.n + row_number() OVER (PARTITION BY i.key ORDER BY i.ord),
       i.lane, i.type, i.aggregate_type, i.content_type, i.payload, i.headers,
       COALESCE(i.created_at, now())
FROM input i
LEFT JOIN counts c ON c.key = i.key
LEFT JOIN bumped b ON b.key = i.key
ORDER BY i.ord
"""

# One event, the common case: the same work without unpacking arrays, counting
# per key or numbering rows, which saves a third of the statement's cost.
_INSERT_ONE = """
WITH input AS (
    SELECT $1::text AS event_id, $2::text AS topic, $3::text AS key, $4::text AS lane,
           $5::text AS type, $6::text AS aggregate_type, $7::text AS content_type,
           $8::bytea AS payload, $9::text AS headers, $10::timestamptz AS created_at
),
bumped AS (
    INSERT INTO {keys} AS k (key, last_seq)
    SELECT key, 1 FROM input WHERE key IS NOT NULL
    ON CONFLICT (key) DO UPDATE SET last_seq = k.last_seq + 1
    RETURNING k.last_seq
)
INSERT INTO {events} (event_id, topic, key, seq, lane, type, aggregate_type,
                      content_type, payload, headers, created_at)
SELECT i.event_id, i.topic, i.key, b.last_seq, i.lane, i.type, i.aggregate_type,
       i.content_type, i.payload, i.headers, COALESCE(i.created_at, now())
FROM input i LEFT JOIN bumped b ON true
"""

_INTRANS = 2
"""``psycopg.pq.TransactionStatus.IDLE``: connected, no transaction open."""


class PsycopgInfo(Protocol):
    @property
    def transaction_status(self) -> int: ...


class PsycopgConnection(Protocol):
    """The part of ``psycopg.Connection`` the writer uses."""

    @property
    def autocommit(self) -> bool: ...

    @property
    def info(self) -> PsycopgInfo: ...

    def execute(self, query: str, params: Sequence[object], /) -> object: ...


class AsyncPsycopgConnection(Protocol):
    """The part of ``psycopg.AsyncConnection`` the writer uses."""

    @property
    def autocommit(self) -> bool: ...

    @property
    def info(self) -> PsycopgInfo: ...

    async def execute(self, query: str, params: Sequence[object], /) -> object: ...


class AsyncpgConnection(Protocol):
    """The part of ``asyncpg.Connection`` (or a pool's proxy of one) the writer uses."""

    def is_in_transaction(self) -> bool: ...

    async def execute(self, query: str, /, *args: object) -> str: ...


class PostgresWriter:
    """The insert statement for one set of outbox tables, in each driver's placeholder style."""

    def __init__(self, tables: Tables) -> None:
        self._many = tables.render(_INSERT)  # asyncpg: $1, $2...
        self._one = tables.render(_INSERT_ONE)
        # psycopg: %b sends parameters in binary, which spares hex-encoding the payloads.
        self._many_format = re.sub(r"\$\d+", "%b", self._many)
        self._one_format = re.sub(r"\$\d+", "%b", self._one)

    def numbered(self, rows: Sequence[Row]) -> tuple[str, Sequence[object]]:
        """The statement with ``$n`` placeholders, and its parameters."""
        if len(rows) == 1:
            return self._one, values(rows[0])
        return self._many, columns(rows)

    def formatted(self, rows: Sequence[Row]) -> tuple[str, Sequence[object]]:
        """The statement with psycopg's ``%b`` placeholders, and its parameters."""
        if len(rows) == 1:
            return self._one_format, values(rows[0])
        return self._many_format, columns(rows)

    def psycopg(self, conn: PsycopgConnection, rows: Sequence[Row]) -> None:
        _check_psycopg(conn)
        conn.execute(*self.formatted(rows))

    async def psycopg_async(self, conn: AsyncPsycopgConnection, rows: Sequence[Row]) -> None:
        _check_psycopg(conn)
        await conn.execute(*self.formatted(rows))

    async def asyncpg(self, conn: AsyncpgConnection, rows: Sequence[Row]) -> None:
        if not conn.is_in_transaction():
            raise outside_transaction(
                "asyncpg", "wrap the work in `async with conn.transaction():`"
            )
        sql, params = self.numbered(rows)
        await conn.execute(sql, *params)


def values(row: Row) -> tuple[object, ...]:
    """One row's values, in the order of the statement's parameters."""
    return (
        row.event_id,
        row.topic,
        row.key,
        row.lane,
        row.type,
        row.aggregate_type,
        row.content_type,
        row.payload,
        row.headers,
        row.created_at,
    )


def columns(rows: Sequence[Row]) -> tuple[list[object], ...]:
    """The rows as one list per column, in the order of the statement's parameters."""
    return (
        [r.event_id for r in rows],
        [r.topic for r in rows],
        [r.key for r in rows],
        [r.lane for r in rows],
        [r.type for r in rows],
        [r.aggregate_type for r in rows],
        [r.content_type for r in rows],
        [r.payload for r in rows],
        [r.headers for r in rows],
        [r.created_at for r in rows],
    )


def outside_transaction(driver: str, fix: str) -> ConfigurationError:
    """The error for a connection that would commit each statement on its own."""
    return ConfigurationError(
        f"outbox.add() must run inside the business transaction, but the {driver} "
        f"connection is in autocommit mode with no transaction open: {fix}"
    )


def _check_psycopg(conn: PsycopgConnection | AsyncPsycopgConnection) -> None:
    # Without autocommit psycopg opens a transaction itself, so only autocommit
    # outside an explicit `conn.transaction()` block (or a BEGIN the caller sent)
    # would commit the events alone. In pipeline mode the status is ACTIVE while
    # statements are queued, in a transaction or not: only INTRANS proves one.
    if not conn.autocommit:
        return
    in_block = getattr(conn, "_num_transactions", 0) > 0
    if not in_block and int(conn.info.transaction_status) != _INTRANS:
        raise outside_transaction(
            "psycopg", "use `with conn.transaction():` or a connection with autocommit=False"
        )
