"""A SQLite table of records polled as a batch source.

Rows move from ``pending`` to ``delivered`` or ``dead``; a failed row stays
pending with its attempt count and last error, so it is offered again.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relaybox.core.outcome import Failure, Outcome

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS records_pending ON records (id) WHERE status = 'pending';
"""


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    payload: dict[str, Any]


class SqliteTable:
    """A batch source over the ``records`` table of a SQLite file.

    One connection, used from one worker thread at a time (the lock keeps
    fetch and settle apart), so the event loop never blocks on disk I/O.
    """

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = asyncio.Lock()

    def insert(self, payloads: Sequence[dict[str, Any]]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT INTO records (payload) VALUES (?)", [(json.dumps(p),) for p in payloads]
            )

    async def fetch(self, limit: int, /) -> Sequence[Row]:
        async with self._lock:
            rows = await asyncio.to_thread(
                self._db.execute(
                    "SELECT id, payload FROM records WHERE status = 'pending' ORDER BY id LIMIT ?",
                    (limit,),
                ).fetchall
            )
        return [Row(id, json.loads(payload)) for id, payload in rows]

    async def settle(self, outcome: Outcome[Row], /) -> None:
        async with self._lock:
            await asyncio.to_thread(self._settle, outcome)

    def _settle(self, outcome: Outcome[Row]) -> None:
        with self._db:
            self._db.executemany(
                "UPDATE records SET status = 'delivered', attempts = attempts + 1 WHERE id = ?",
                [(r.id,) for r in outcome.delivered],
            )
            self._db.executemany(
                "UPDATE records SET status = 'dead', attempts = attempts + ?, last_error = ? "
                "WHERE id = ?",
                [_failure_row(f) for f in outcome.dead],
            )
            self._db.executemany(
                "UPDATE records SET attempts = attempts + ?, last_error = ? WHERE id = ?",
                [_failure_row(f) for f in outcome.failed],
            )

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, count(*) FROM records GROUP BY status").fetchall()
        return {"pending": 0, "delivered": 0, "dead": 0} | dict(rows)

    def ids(self, status: str) -> list[int]:
        rows = self._db.execute("SELECT id FROM records WHERE status = ? ORDER BY id", (status,))
        return [r[0] for r in rows]

    def first_error(self, status: str) -> str | None:
        row = self._db.execute(
            "SELECT last_error FROM records WHERE status = ? ORDER BY id LIMIT 1", (status,)
        ).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        self._db.close()


def _failure_row(failure: Failure[Row]) -> tuple[int, str, int]:
    return (failure.attempts, repr(failure.error), failure.record.id)
