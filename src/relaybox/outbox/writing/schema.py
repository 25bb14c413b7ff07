"""Recognising "the outbox table does not exist" in any driver's error."""

from __future__ import annotations

from relaybox.core.errors import SchemaMissingError
from relaybox.outbox.tables import Tables

_UNDEFINED_TABLE = "42P01"
"""PostgreSQL's SQLSTATE for a missing relation (psycopg and asyncpg expose it as ``sqlstate``)."""


def missing_schema(error: BaseException, tables: Tables) -> SchemaMissingError | None:
    """A :class:`SchemaMissingError` when ``error`` says an outbox table is missing.

    Looks through wrappers too: SQLAlchemy keeps the driver's error in ``orig``,
    its asyncpg adapter in ``__cause__``.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if _is_missing_table(current):
            return SchemaMissingError(f"outbox table {tables.events} does not exist")
        orig = getattr(current, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None, current.__cause__]
    return None


def _is_missing_table(error: BaseException) -> bool:
    if getattr(error, "sqlstate", None) == _UNDEFINED_TABLE:
        return True
    # sqlite3 has no error codes for this before Python 3.11's sqlite_errorname,
    # and then only the generic SQLITE_ERROR: the message is what tells.
    return type(error).__name__ == "OperationalError" and "no such table" in str(error)
