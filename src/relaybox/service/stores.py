"""The outbox store named by a URL: ``postgresql://...`` or ``sqlite:///path.db``.

Adapters are imported only when their URL is opened, so a PostgreSQL user
never needs the SQLite extra and the other way round.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from relaybox.core.errors import (
    ConfigurationError,
    RelayboxError,
    SchemaMissingError,
    TemporaryError,
)
from relaybox.outbox.tables import Tables
from relaybox.ports.store import OutboxAdmin, OutboxStore
from relaybox.service.locations import StoreLocation, locate_store
from relaybox.service.redaction import redact, scrub

__all__ = ["Store", "StoreLocation", "locate_store", "migrate_command", "open_store", "redact"]

_DRIVERS = {"postgresql": ("asyncpg", "postgres")}
_SQLITE_HEADER = b"SQLite format 3\x00"


class Store(OutboxStore, OutboxAdmin, Protocol):
    """An outbox store a relay claims from and operators administer."""


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
        reason = scrub(str(exc), url)
        raise TemporaryError(f"cannot open the database at {redact(url)}: {reason}") from exc


def _open_sqlite(path: Path, tables: Tables, *, create: bool, url: str) -> Store:
    from relaybox.adapters.sqlite import SqliteStore  # noqa: PLC0415 - loaded on use, like the rest

    if not create and not path.exists():
        raise SchemaMissingError(
            f"no SQLite database at {path.absolute()}", command=migrate_command(url, tables)
        )
    _require_openable(path)
    return SqliteStore.open(path, tables)


def _require_openable(path: Path) -> None:
    """Refuse, with what to do, a path SQLite would fail on later with a bare driver error."""
    shown = path.absolute()
    if path.is_dir():
        raise ConfigurationError(
            f"{shown} is a directory, not a SQLite database: name a file in it, "
            f"such as sqlite:///{path / 'outbox.db'}"
        )
    if not shown.parent.is_dir():
        raise ConfigurationError(
            f"cannot create the SQLite database {shown}: the folder {shown.parent} does not "
            "exist; create it first or fix the path"
        )
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return  # created on first use (migrate)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigurationError(f"cannot open the SQLite database {shown}: {reason}") from None
    if header and header != _SQLITE_HEADER:
        raise ConfigurationError(
            f"{shown} is not a SQLite database (it holds something else): "
            "point --db at the outbox database, or at a new file to create one"
        )
