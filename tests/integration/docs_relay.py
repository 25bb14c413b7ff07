"""Running a docs block's ``relaybox relay --to URL`` lines for real, once, on a small outbox.

Each line goes through the real command line (:func:`relay_lines`) with
``--once`` added, so it relays what is due and exits; ``export NAME=VALUE``
lines set the environment of the lines after them. The outbox is a SQLite
file (:class:`SmallOutbox`) unless the block names its own database.
:func:`refused` shows that a ``password_env`` variable is what the login uses.
"""

from __future__ import annotations

import shlex
import sqlite3
import uuid
from pathlib import Path
from typing import Protocol

import pytest
from click.testing import CliRunner

from docblocks import Block, swapped
from relaybox import DestinationUnavailableError, Event, Outbox
from relaybox.cli import relaybox


class Database(Protocol):
    """A PostgreSQL schema of the test's own, with its outbox migrated."""

    @property
    def dsn(self) -> str: ...


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class SmallOutbox:
    """A migrated SQLite outbox in a test's directory, and a way to commit events into it."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "outbox.db"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    async def migrate(self) -> SmallOutbox:
        from relaybox.adapters.sqlite import SqliteStore

        store = SqliteStore.open(self.path)
        try:
            await store.migrate()
        finally:
            await store.close()
        return self

    def write(self, *events: Event) -> None:
        with sqlite3.connect(self.path) as conn:
            Outbox().add(conn, *events)


def relay_lines(found: Block, replacements: dict[str, str]) -> list[list[str]]:
    """The block's commands, swapped and split into words (``export`` lines included)."""
    code = swapped(found.code, replacements)
    return [words for line in code.splitlines() if (words := shlex.split(line, comments=True))]


def relay_once(words: list[str], db: str, env: dict[str, str]) -> str:
    """Run one ``relaybox relay`` line with ``--once``; it must deliver everything due."""
    assert words[:2] == ["relaybox", "relay"], words
    result = CliRunner().invoke(
        relaybox,
        [*words[1:], "--once"],
        env={"RELAYBOX_DB": db, **env},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert ", dead 0; now pending 0," in result.output, result.output
    return result.output


def relay_block(found: Block, replacements: dict[str, str], db: str, env: dict[str, str]) -> None:
    """Run every line of the block in order, ``export`` lines setting the environment."""
    env = dict(env)
    for words in relay_lines(found, replacements):
        if words[0] == "export":
            for word in words[1:]:
                name, _, value = word.partition("=")
                env[name] = value
        else:
            relay_once(words, db, env)


async def refused(url: str, environ: dict[str, str], match: str) -> None:
    """With a wrong password in the variable ``password_env`` names, the broker refuses the login.

    So a URL that relays proves its password was read from that variable.
    """
    from relaybox.service import PublisherOptions, publisher_for
    from relaybox.testing.messages import message

    publisher = publisher_for(url, PublisherOptions(timeout=5.0, environ=environ))
    try:
        with pytest.raises(DestinationUnavailableError, match=match):
            await publisher.publish([message(1)])
    finally:
        await publisher.close()
