"""Database URLs as SQLAlchemy reads them, so users write the URLs they already know.

* ``sqlite:///shop.db`` is ``shop.db`` in the working directory;
  ``sqlite:////var/lib/shop.db`` is the absolute ``/var/lib/shop.db``.
* ``sqlite:///:memory:`` is refused: an in-memory database belongs to one
  connection, so no relay could ever see what a writer committed.
* ``postgresql://``, ``postgres://`` and the SQLAlchemy forms
  ``postgresql+asyncpg://`` and ``postgresql+psycopg://`` name one database; the
  driver part is dropped, the relay uses asyncpg.

URLs are split by :func:`urllib.parse.urlsplit`, the standard library's
parser, never by hand; errors show the URL with its password masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from relaybox.core.errors import ConfigurationError
from relaybox.service.redaction import redact

SUPPORTED = (
    "postgresql://USER@HOST:PORT/DB, sqlite:///RELATIVE/PATH.db or sqlite:////ABSOLUTE/PATH.db"
)
_POSTGRES = ("postgresql", "postgres")


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where a store URL points: a PostgreSQL DSN asyncpg accepts, or a SQLite file path."""

    kind: Literal["postgresql", "sqlite"]
    target: str


def locate_store(url: str) -> StoreLocation:
    """Parse ``url`` without connecting; :class:`ConfigurationError` for anything unsupported."""
    scheme, colon, rest = url.strip().partition(":")
    dialect, _, _driver = scheme.lower().partition("+")
    if colon and dialect in _POSTGRES:
        return StoreLocation("postgresql", _postgres_dsn(url, rest))
    if colon and dialect == "sqlite":
        return StoreLocation("sqlite", _sqlite_path(url, rest))
    raise ConfigurationError(f"unsupported database URL {redact(url)!r}: use {SUPPORTED}")


def _postgres_dsn(url: str, rest: str) -> str:
    dsn = "postgresql:" + rest
    try:
        parts = urlsplit(dsn)
        parts.port  # noqa: B018 - parsing the port is what validates it
    except ValueError as exc:
        raise ConfigurationError(f"cannot parse the database URL {redact(url)!r}: {exc}") from None
    if not rest.startswith("//"):
        raise ConfigurationError(f"{redact(url)!r} is not a URL: use {SUPPORTED}")
    return dsn


def _sqlite_path(url: str, rest: str) -> str:
    if not rest.startswith("//"):
        name = unquote(rest) or "NAME.db"
        raise ConfigurationError(
            f"{url!r} is not a SQLite URL: write sqlite:///{name} for a file in the working "
            "directory, or sqlite:////ABSOLUTE/PATH.db"
        )
    parts = urlsplit("sqlite:" + rest)
    if parts.netloc:
        raise ConfigurationError(f"{url!r} names a host; SQLite URLs are local: use {SUPPORTED}")
    if parts.query:
        raise ConfigurationError(f"{url!r}: SQLite URLs take no query parameters here")
    path = unquote(parts.path[1:])  # after the third slash, as SQLAlchemy does
    if path == ":memory:" or path.startswith("file::memory:"):
        raise ConfigurationError(
            f"{url!r} is an in-memory database, which only its own connection sees: "
            "the relay could never read what writers commit; give a file, "
            "such as sqlite:///outbox.db"
        )
    if not path:
        raise ConfigurationError(f"{url!r} names no database file: use {SUPPORTED}")
    return path
