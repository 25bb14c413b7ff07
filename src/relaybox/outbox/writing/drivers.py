"""Recognise the caller's connection and send the rows down its driver's path.

Connections are recognised by the class names in their MRO (the top-level
package and the class name), so subclasses work and no driver is imported.
A SQLAlchemy connection or session is unwrapped to its driver connection and
takes that driver's path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from relaybox.core.errors import ConfigurationError
from relaybox.outbox.encoding import Row
from relaybox.outbox.writing import alchemy
from relaybox.outbox.writing.postgres import (
    AsyncpgConnection,
    AsyncPsycopgConnection,
    PostgresWriter,
    PsycopgConnection,
    outside_transaction,
)
from relaybox.outbox.writing.sqlite import AiosqliteConnection, SqliteConnection, SqliteWriter

_SYNC = {
    ("sqlite3", "Connection"): "sqlite3",
    ("psycopg", "Connection"): "psycopg",
    ("sqlalchemy", "Connection"): "sqlalchemy",
    ("sqlalchemy", "Session"): "sqlalchemy session",
    ("sqlalchemy", "scoped_session"): "sqlalchemy session",
}
_ASYNC = {
    ("psycopg", "AsyncConnection"): "psycopg",
    ("asyncpg", "Connection"): "asyncpg",
    ("asyncpg", "PoolConnectionProxy"): "asyncpg",
    ("aiosqlite", "Connection"): "aiosqlite",
    ("sqlalchemy", "AsyncConnection"): "sqlalchemy",
    ("sqlalchemy", "AsyncSession"): "sqlalchemy session",
    ("sqlalchemy", "async_scoped_session"): "sqlalchemy session",
}
SUPPORTED = (
    "outbox.add(tx, ...) takes sqlite3.Connection, psycopg.Connection, or a SQLAlchemy "
    "Connection or Session; await outbox.add_async(tx, ...) takes psycopg.AsyncConnection, "
    "asyncpg.Connection (or a pool's connection), aiosqlite.Connection, or a SQLAlchemy "
    "AsyncConnection or AsyncSession"
)


def write(tx: object, rows: Sequence[Row], pg: PostgresWriter, lite: SqliteWriter) -> None:
    """Insert ``rows`` on the transaction of ``tx``, a synchronous connection or session."""
    kind = _kind(tx, _SYNC)
    if kind == "sqlalchemy session":
        tx, kind = cast(alchemy.AlchemySession, tx).connection(), "sqlalchemy"
    if kind == "sqlalchemy":
        tx = alchemy.driver_of(cast(alchemy.AlchemyConnection, tx))
        kind = _kind(tx, _SYNC)
    if kind == "sqlite3":
        lite.sqlite3(cast(SqliteConnection, tx), rows)
    elif kind == "psycopg":
        pg.psycopg(cast(PsycopgConnection, tx), rows)
    else:
        raise _refused(tx, _ASYNC, "is asynchronous: use await outbox.add_async(...)")


async def write_async(
    tx: object, rows: Sequence[Row], pg: PostgresWriter, lite: SqliteWriter
) -> None:
    """Insert ``rows`` on the transaction of ``tx``, an asynchronous connection or session."""
    kind = _kind(tx, _ASYNC)
    if kind == "sqlalchemy session":
        tx, kind = await cast(alchemy.AsyncAlchemySession, tx).connection(), "sqlalchemy"
    if kind == "sqlalchemy":
        await _write_alchemy(cast(alchemy.AsyncAlchemyConnection, tx), rows, pg, lite)
    elif kind == "psycopg":
        await pg.psycopg_async(cast(AsyncPsycopgConnection, tx), rows)
    elif kind == "asyncpg":
        await pg.asyncpg(cast(AsyncpgConnection, tx), rows)
    elif kind == "aiosqlite":
        await lite.aiosqlite(cast(AiosqliteConnection, tx), rows)
    else:
        raise _refused(tx, _SYNC, "is synchronous: use outbox.add(...)")


async def _write_alchemy(
    conn: alchemy.AsyncAlchemyConnection,
    rows: Sequence[Row],
    pg: PostgresWriter,
    lite: SqliteWriter,
) -> None:
    raw = await alchemy.async_driver_of(conn)
    if _kind(raw.driver_connection, _ASYNC) != "asyncpg":
        await write_async(raw.driver_connection, rows, pg, lite)
        return
    # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement,
    # so ours must go through SQLAlchemy to land inside the transaction.
    if cast(alchemy.AsyncpgAdapter, raw.dbapi_connection).autocommit:
        raise outside_transaction("SQLAlchemy", "the engine uses isolation_level AUTOCOMMIT")
    await conn.exec_driver_sql(*pg.numbered(rows))


def _kind(tx: object, known: dict[tuple[str, str], str]) -> str | None:
    """The driver name of ``tx`` in ``known``, by top-level package and class name."""
    for cls in type(tx).__mro__:
        kind = known.get((cls.__module__.partition(".")[0], cls.__qualname__))
        if kind is not None:
            return kind
    return None


def _refused(tx: object, twins: dict[tuple[str, str], str], problem: str) -> ConfigurationError:
    """Why ``tx`` cannot be used: it belongs to the other method, or is not supported."""
    cls = type(tx)
    name = f"{cls.__module__}.{cls.__qualname__}"
    if _kind(tx, twins) is not None:
        return ConfigurationError(f"{name} {problem}")
    return ConfigurationError(f"cannot write outbox events on {name}: {SUPPORTED}")
