"""Failing events and per-topic counts on PostgreSQL, for ``relaybox status``."""

from __future__ import annotations

import asyncpg

from relaybox.outbox.tables import Tables
from relaybox.ports.insight import FailingEvent, TopicCounts


class PostgresInsight:
    """Read-only queries over the outbox tables; mixed into the store's admin side."""

    _pool: asyncpg.Pool
    _tables: Tables

    async def failing(self, limit: int, /) -> list[FailingEvent]:
        t = self._tables
        # A retry waits on the event's available_at, or on its key's lane when held;
        # '-infinity' (never failed) and past times mean due now.
        rows = await self._pool.fetch(
            f"""
            SELECT e.event_id, e.topic, e.key, e.attempts, e.last_error,
                   nullif(greatest(e.available_at, l.available_at, now()), now()) AS next_try
            FROM {t.events} e LEFT JOIN {t.lanes} l ON l.lane = e.lane
            WHERE e.last_error IS NOT NULL
            ORDER BY next_try NULLS FIRST, e.id
            LIMIT $1
            """,
            limit,
        )
        return [
            FailingEvent(
                r["event_id"], r["topic"], r["key"], r["attempts"], r["next_try"], r["last_error"]
            )
            for r in rows
        ]

    async def topics(self) -> list[TopicCounts]:
        t = self._tables
        rows = await self._pool.fetch(
            f"""
            SELECT topic, sum(pending)::bigint AS pending, sum(retrying)::bigint AS retrying,
                   sum(dead)::bigint AS dead
            FROM (
                SELECT topic, count(*) AS pending, count(*) FILTER (WHERE last_error IS NOT NULL)
                       AS retrying, 0 AS dead
                FROM {t.events} GROUP BY topic
                UNION ALL
                SELECT topic, 0, 0, count(*) FROM {t.dead} GROUP BY topic
            ) counts
            GROUP BY topic ORDER BY topic
            """
        )
        return [TopicCounts(r["topic"], r["pending"], r["retrying"], r["dead"]) for r in rows]
