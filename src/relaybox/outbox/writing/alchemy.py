"""Finding the driver connection under a SQLAlchemy connection or session.

The writer runs its own SQL on the DBAPI connection of the caller's
SQLAlchemy transaction, so the events commit or roll back with it. Before
that it begins the SQLAlchemy transaction when none is begun yet, exactly as
SQLAlchemy's own ``execute`` would (autobegin): otherwise a later
``conn.commit()`` would see nothing to commit and the events would be lost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Protocol


class PooledConnection(Protocol):
    """SQLAlchemy's ``PoolProxiedConnection``."""

    @property
    def driver_connection(self) -> object: ...

    @property
    def dbapi_connection(self) -> object: ...


class AlchemyConnection(Protocol):
    """The part of ``sqlalchemy.engine.Connection`` the writer uses."""

    @property
    def connection(self) -> PooledConnection: ...

    def in_transaction(self) -> bool: ...

    def begin(self) -> object: ...


class AlchemySession(Protocol):
    """``sqlalchemy.orm.Session`` (or a scoped session)."""

    def connection(self) -> AlchemyConnection: ...


class AsyncAlchemyConnection(Protocol):
    """The part of ``sqlalchemy.ext.asyncio.AsyncConnection`` the writer uses."""

    def in_transaction(self) -> bool: ...

    def begin(self) -> Awaitable[object]: ...

    async def get_raw_connection(self) -> PooledConnection: ...

    async def exec_driver_sql(self, statement: str, parameters: Sequence[object], /) -> object: ...


class AsyncAlchemySession(Protocol):
    """``sqlalchemy.ext.asyncio.AsyncSession`` (or an async scoped session)."""

    async def connection(self) -> AsyncAlchemyConnection: ...


class AsyncpgAdapter(Protocol):
    """SQLAlchemy's wrapper of an asyncpg connection."""

    @property
    def autocommit(self) -> bool: ...


def driver_of(conn: AlchemyConnection) -> object:
    """The DBAPI connection of ``conn``'s transaction, begun if it was not yet."""
    if not conn.in_transaction():
        conn.begin()
    return conn.connection.driver_connection


async def async_driver_of(conn: AsyncAlchemyConnection) -> PooledConnection:
    """The pooled connection of ``conn``'s transaction, begun if it was not yet.

    Its ``driver_connection`` is the asyncpg, psycopg or aiosqlite connection;
    its ``dbapi_connection`` is SQLAlchemy's adapter around it.
    """
    if not conn.in_transaction():
        await conn.begin()
    return await conn.get_raw_connection()
