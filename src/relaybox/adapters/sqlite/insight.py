"""Failing events and per-topic counts on SQLite, for ``relaybox status``."""

from __future__ import annotations

import sqlite3

from relaybox.adapters.sqlite.connection import NOW, Database, to_optional_datetime
from relaybox.outbox.tables import Tables
from relaybox.ports.insight import FailingEvent, TopicCounts


class SqliteInsight:
    """Read-only queries over the outbox tables; mixed into the store's admin side."""

    _db: Database
    _tables: Tables

    async def failing(self, limit: int, /) -> list[FailingEvent]:
        t = self._tables

        def work(conn: sqlite3.Connection) -> list[FailingEvent]:
            # A retry waits on the event's available_at, or on its key's lane when held.
            rows = conn.execute(
                f"""SELECT event_id, topic, key, attempts, last_error, CASE WHEN wait > {NOW}
                        THEN wait END AS next_try
                    FROM (SELECT e.id, e.event_id, e.topic, e.key, e.attempts, e.last_error,
                                 max(e.available_at, coalesce(l.available_at, 0)) AS wait
                          FROM {t.events} e LEFT JOIN {t.lanes} l ON l.lane = e.lane
                          WHERE e.last_error IS NOT NULL)
                    ORDER BY next_try IS NOT NULL, next_try, id LIMIT ?""",
                (limit,),
            ).fetchall()
            return [
                FailingEvent(r[0], r[1], r[2], r[3], to_optional_datetime(r[5]), r[4]) for r in rows
            ]

        return await self._db.run(work)

    async def topics(self) -> list[TopicCounts]:
        t = self._tables

        def work(conn: sqlite3.Connection) -> list[TopicCounts]:
            rows = conn.execute(
                f"""SELECT topic, sum(pending), sum(retrying), sum(dead) FROM (
                      SELECT topic, count(*) AS pending, sum(last_error IS NOT NULL) AS retrying,
                             0 AS dead
                      FROM {t.events} GROUP BY topic
                      UNION ALL
                      SELECT topic, 0, 0, count(*) FROM {t.dead} GROUP BY topic)
                    GROUP BY topic ORDER BY topic"""
            ).fetchall()
            return [TopicCounts(r[0], r[1], r[2], r[3]) for r in rows]

        return await self._db.run(work)
