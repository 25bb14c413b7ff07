"""Names of the outbox tables, validated as SQL identifiers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from relaybox.core.errors import ConfigurationError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")


@dataclass(frozen=True, slots=True)
class Tables:
    """The outbox's tables, all named after ``name`` (default ``relaybox_outbox``).

    ``name`` must be a plain SQL identifier (letters, digits, ``_``; at most 48
    characters) because it is placed into SQL text; choose the schema with the
    connection's ``search_path``. It is folded to lower case, as PostgreSQL
    folds an unquoted identifier: ``Tables("SHOP_OUTBOX")`` names the very
    tables of ``Tables("shop_outbox")``, so it must also take the same claim
    lock and listen on the same channel.
    """

    name: str = "relaybox_outbox"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _IDENTIFIER.fullmatch(self.name):
            raise ConfigurationError(
                f"table name {self.name!r} is not a plain SQL identifier "
                "(letters, digits and _, not starting with a digit, at most 48 characters)"
            )
        object.__setattr__(self, "name", self.name.lower())

    @property
    def events(self) -> str:
        return self.name

    @property
    def keys(self) -> str:
        return f"{self.name}_keys"

    @property
    def lanes(self) -> str:
        return f"{self.name}_lanes"

    @property
    def claims(self) -> str:
        return f"{self.name}_claims"

    @property
    def dead(self) -> str:
        return f"{self.name}_dead"

    @property
    def tokens(self) -> str:
        return f"{self.name}_tokens"

    @property
    def migrations(self) -> str:
        return f"{self.name}_migrations"

    def render(self, sql: str) -> str:
        """``sql`` with the ``{events}``, ``{keys}``, ``{lanes}``... placeholders filled in."""
        return sql.format(
            events=self.events,
            keys=self.keys,
            lanes=self.lanes,
            claims=self.claims,
            dead=self.dead,
            tokens=self.tokens,
            migrations=self.migrations,
        )
