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
