"""Writing events on SQLite (``sqlite3`` and ``aiosqlite``).

SQLite runs in process, so a few statements cost little: one upsert per
distinct key reserves that key's next sequence numbers, then one
``executemany`` inserts the events in call order. SQLite lets one writer at a
time hold the database, so sequence order is commit order here too. Times are
REAL Unix seconds, as in the schema.
"""

from __future__ import annotations

import sqlite3 as _sqlite3
from collections.abc import Iterable, Sequence
from typing import Protocol

from relaybox.outbox.encoding import Row
from relaybox.outbox.tables import Tables
from relaybox.outbox.writing.postgres import outside_transaction

_BUMP = """
INSERT INTO {keys} (key, last_seq) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET last_seq = last_seq + excluded.last_seq
RETURNING last_seq
"""

# The COALESCE repeats the column default so that one executemany covers events
# with and without created_at and keeps them in call order.
_INSERT = """
INSERT INTO {events} (event_id, topic, key, seq, lane, type, aggregate_type,
                      content_type, payload, headers, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(?, (julianday('now') - 2440587.5) * 86400.0))
"""

_FIX = "use the default isolation_level or open one with BEGIN"
_LEGACY = -1
"""``sqlite3.LEGACY_TRANSACTION_CONTROL``: ``isolation_level`` decides (Python 3.12+)."""


class SqliteCursor(Protocol):
    def fetchall(self) -> list[tuple[object, ...]]: ...


class SqliteConnection(Protocol):
    """The part of ``sqlite3.Connection`` the writer uses."""

    @property
    def isolation_level(self) -> str | None: ...

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Sequence[object], /) -> SqliteCursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[object]], /) -> object: ...


class AiosqliteConnection(Protocol):
    """The part of ``aiosqlite.Connection`` the writer uses."""

    @property
    def isolation_level(self) -> str | None: ...

    @property
    def in_transaction(self) -> bool: ...

    async def execute_fetchall(
        self, sql: str, parameters: Sequence[object], /
    ) -> Iterable[Sequence[object]]: ...

    async def executemany(self, sql: str, parameters: Iterable[Sequence[object]], /) -> object: ...


class SqliteWriter:
    """The statements for one set of outbox tables."""

    def __init__(self, tables: Tables) -> None:
        self.bump_sql = tables.render(_BUMP)
        self.insert_sql = tables.render(_INSERT)

    def sqlite3(self, conn: SqliteConnection, rows: Sequence[Row]) -> None:
        _check(conn)
        first: dict[str, int] = {}
        for key, count in counts(rows).items():
            (found,) = conn.execute(self.bump_sql, (key, count)).fetchall()
            first[key] = _int(found[0]) - count + 1
        conn.executemany(self.insert_sql, parameters(rows, first))

    async def aiosqlite(self, conn: AiosqliteConnection, rows: Sequence[Row]) -> None:
        if not conn.in_transaction:
            _refuse_autocommit(await _aiosqlite_autocommit(conn), conn.isolation_level)
        first: dict[str, int] = {}
        for key, count in counts(rows).items():
            (found,) = await conn.execute_fetchall(self.bump_sql, (key, count))
            first[key] = _int(found[0]) - count + 1
        await conn.executemany(self.insert_sql, parameters(rows, first))


def counts(rows: Sequence[Row]) -> dict[str, int]:
    """Events per key, keys sorted (writers of several keys take them in one order)."""
    found: dict[str, int] = {}
    for row in rows:
        if row.key is not None:
            found[row.key] = found.get(row.key, 0) + 1
    return dict(sorted(found.items()))


def parameters(rows: Sequence[Row], first: dict[str, int]) -> list[tuple[object, ...]]:
    """Insert parameters in call order; ``first`` holds each key's first new sequence."""
    next_seq = dict(first)
    params: list[tuple[object, ...]] = []
    for row in rows:
        seq = None
        if row.key is not None:
            seq = next_seq[row.key]
            next_seq[row.key] = seq + 1
        created = row.created_at.timestamp() if row.created_at is not None else None
        params.append(
            (row.event_id, row.topic, row.key, seq, row.lane, row.type, row.aggregate_type,
             row.content_type, row.payload, row.headers, created)
        )  # fmt: skip
    return params


def _check(conn: SqliteConnection | AiosqliteConnection) -> None:
    # Python's default mode opens a transaction before the first write, so only
    # isolation_level=None (or, from Python 3.12, autocommit=True) outside an
    # explicit BEGIN would commit each statement on its own.
    if not conn.in_transaction:
        _refuse_autocommit(getattr(conn, "autocommit", _LEGACY), conn.isolation_level)


_HAS_AUTOCOMMIT = hasattr(_sqlite3, "LEGACY_TRANSACTION_CONTROL")  # Python 3.12+


def _refuse_autocommit(autocommit: object, isolation_level: str | None) -> None:
    if autocommit is True or (autocommit == _LEGACY and isolation_level is None):
        raise outside_transaction("SQLite", _FIX)


async def _aiosqlite_autocommit(conn: AiosqliteConnection) -> object:
    """The wrapped sqlite3 connection's ``autocommit`` (Python 3.12+), read in its own thread.

    aiosqlite passes ``autocommit=True`` to sqlite3 but does not show it, and
    sqlite3 answers only in the thread that owns the connection.
    """
    if not _HAS_AUTOCOMMIT:
        return _LEGACY
    run = getattr(conn, "_execute", None)
    inner = getattr(conn, "_conn", None)
    if run is None or inner is None:
        return _LEGACY
    return await run(getattr, inner, "autocommit", _LEGACY)


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an integer sequence from SQLite, got {value!r}")
    return value
