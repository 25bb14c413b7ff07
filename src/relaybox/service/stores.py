"""The outbox store named by a URL: ``postgresql://...`` or ``sqlite:///path.db``.

Adapters are imported only when their URL is opened, so a PostgreSQL user
never needs the SQLite extra and the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

from relaybox.core.errors import (
    ConfigurationError,
    RelayboxError,
    SchemaMissingError,
    TemporaryError,
)
from relaybox.outbox.tables import Tables
from relaybox.ports.store import OutboxAdmin, OutboxStore

SUPPORTED = "postgresql://USER@HOST:PORT/DB, sqlite:///ABSOLUTE/PATH.db or sqlite:RELATIVE.db"
_DRIVERS = {"postgresql": ("asyncpg", "postgres")}


class Store(OutboxStore, OutboxAdmin, Protocol):
    """An outbox store a relay claims from and operators administer."""


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where a store URL points: a PostgreSQL DSN or a SQLite file."""

    kind: Literal["postgresql", "sqlite"]
    target: str


def locate_store(url: str) -> StoreLocation:
    """Parse ``url`` without connecting; :class:`ConfigurationError` for anything unsupported.

    ``sqlite:///abs/path.db`` (three slashes, the file-URL form; four work too)
    is absolute, ``sqlite:relative.db`` is relative to the working directory.
    """
    scheme, _, rest = url.partition(":")
    scheme = scheme.lower()
    if scheme in ("postgresql", "postgres") and rest.startswith("//"):
        return StoreLocation("postgresql", url)
    if scheme == "sqlite":
        return StoreLocation("sqlite", _sqlite_path(url, rest))
    raise ConfigurationError(f"unsupported database URL {redact(url)!r}: use {SUPPORTED}")


def _sqlite_path(url: str, rest: str) -> str:
    if rest.startswith("//"):
        host, _, path = rest[2:].partition("/")
        if host not in ("", "localhost"):
            raise ConfigurationError(
                f"{url!r} names a host; SQLite URLs are local: use {SUPPORTED}"
            )
        rest = "/" + path.lstrip("/")
    path = unquote(rest)
    if path in ("", "/") or path.startswith(":memory:"):
        raise ConfigurationError(f"{url!r} names no database file: use {SUPPORTED}")
    return path


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``, safe to print or log."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def migrate_command(url: str, tables: Tables) -> str:
    """The command that creates or upgrades this outbox's schema."""
    table = "" if tables == Tables() else f" --table {tables.name}"
    return f"relaybox migrate --db {redact(url)}{table}"


async def open_store(url: str, tables: Tables, *, create: bool = True) -> Store:
    """Connect to the outbox at ``url``; the caller closes it.

    A missing driver is a :class:`ConfigurationError` with the extra to install.
    An unreachable database is a :class:`TemporaryError` naming the URL (never
    the password). With ``create=False`` a missing SQLite file is a
    :class:`SchemaMissingError` instead of a new empty database.
    """
    location = locate_store(url)
    try:
        if location.kind == "postgresql":
            # Imported here: only PostgreSQL users need the asyncpg extra.
            from relaybox.adapters.postgres import PostgresStore  # noqa: PLC0415

            return await PostgresStore.connect(location.target, tables)
        return _open_sqlite(Path(location.target), tables, create=create, url=url)
    except ImportError as exc:
        module, extra = _DRIVERS.get(location.kind, (location.kind, location.kind))
        raise ConfigurationError(
            f'{redact(url)} needs the {module} driver: pip install "relaybox[{extra}]"'
        ) from exc
    except RelayboxError:
        raise
    except Exception as exc:  # driver errors: the adapter's types are not ours to import
        raise TemporaryError(f"cannot open the database at {redact(url)}: {exc}") from exc


def _open_sqlite(path: Path, tables: Tables, *, create: bool, url: str) -> Store:
    from relaybox.adapters.sqlite import SqliteStore  # noqa: PLC0415 - loaded on use, like the rest

    if not create and not path.exists():
        raise SchemaMissingError(
            f"no SQLite database at {path}", command=migrate_command(url, tables)
        )
    return SqliteStore.open(path, tables)
