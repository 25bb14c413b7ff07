"""The versioned schema, read from the ``.sql`` files shipped per dialect.

File names are ``NNNN_name.sql``; the number is the schema version. Table names
are filled in from :class:`~relaybox.outbox.tables.Tables` (already validated as
identifiers). Nothing runs them implicitly: only ``migrate`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from relaybox.outbox.tables import Tables

Dialect = Literal["postgresql", "sqlite"]
_NAME = re.compile(r"(\d{4})_(\w+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(dialect: Dialect, tables: Tables) -> list[Migration]:
    """Every migration of ``dialect`` in version order, rendered for ``tables``."""
    folder = resources.files("relaybox.adapters") / "sql" / dialect
    found = []
    for entry in folder.iterdir():
        match = _NAME.fullmatch(entry.name)
        if match:
            sql = tables.render(entry.read_text(encoding="utf-8"))
            found.append(Migration(int(match[1]), match[2], sql))
    return sorted(found, key=lambda m: m.version)


def latest(dialect: Dialect) -> int:
    return migrations(dialect, Tables())[-1].version


def statements(sql: str) -> list[str]:
    """Split a migration into statements (the files keep ``;`` out of literals and comments)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


_LEDGER = {
    "postgresql": (
        "CREATE TABLE IF NOT EXISTS {migrations} (version integer PRIMARY KEY, "
        "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    ),
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS {migrations} (version INTEGER PRIMARY KEY, name TEXT NOT "
        "NULL, applied_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0))"
    ),
}


def script(dialect: Dialect, tables: Tables) -> str:
    """Every migration of ``dialect`` as one SQL script, for Alembic, Django or psql.

    It records each version in the migrations table exactly as ``migrate``
    does, so ``relaybox check`` and the relay accept a schema made with it,
    and a later ``relaybox migrate`` applies only what is newer. Run it in
    one transaction, once.
    """
    parts = [
        f"-- relaybox outbox {tables.name!r} ({dialect}), schema v{latest(dialect)}",
        tables.render(_LEDGER[dialect]) + ";",
    ]
    for migration in migrations(dialect, tables):
        parts.append(f"\n-- v{migration.version}: {migration.name}")
        parts.extend(statement + ";" for statement in statements(migration.sql))
        parts.append(
            f"INSERT INTO {tables.migrations} (version, name) "
            f"VALUES ({migration.version}, '{migration.name}');"
        )
    return "\n".join(parts) + "\n"
