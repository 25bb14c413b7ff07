"""Where a demo run keeps its files: the SQLite database and the published JSON lines."""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from relaybox.core.errors import ConfigurationError
from relaybox.demo.shop import MARKER

_COMPANIONS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True, slots=True)
class Workspace:
    """The files of one run; ``url`` is the database as the other commands take it."""

    database: Path
    published: Path

    @property
    def url(self) -> str:
        # sqlite:////abs/path.db - SQLAlchemy's absolute form, percent-encoded where needed.
        return "sqlite:///" + self.database.as_uri().removeprefix("file://")

    @classmethod
    def prepare(cls, database: Path | None) -> Workspace:
        """Fresh files at ``database`` (a new temporary folder when ``None``).

        A database left by an earlier demo run is replaced, with its published
        file; any other existing file is refused rather than touched.
        """
        if database is None:
            database = Path(tempfile.mkdtemp(prefix="relaybox-demo-")) / "shop.db"
        database = database.expanduser().resolve()
        workspace = cls(database, database.with_name(database.stem + ".published.jsonl"))
        if database.exists():
            if not _is_demo_database(database):
                raise ConfigurationError(
                    f"{database} exists and is not a relaybox demo database: "
                    "give the demo a new path"
                )
            workspace.remove()
        database.parent.mkdir(parents=True, exist_ok=True)
        return workspace

    def remove(self) -> None:
        """Delete the run's files (the database with its journals, and the published file)."""
        for path in (self.database, self.published):
            path.unlink(missing_ok=True)
        for suffix in _COMPANIONS:
            self.database.with_name(self.database.name + suffix).unlink(missing_ok=True)


def _is_demo_database(path: Path) -> bool:
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MARKER,)
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:  # not a database at all
        return False
    return found is not None
