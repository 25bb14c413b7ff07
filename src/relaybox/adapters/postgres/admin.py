"""What operators do with a PostgreSQL outbox: schema, status, dead letters, parked keys."""

from __future__ import annotations

from typing import Any

import asyncpg

from relaybox.adapters.migrations import latest, migrations, statements
from relaybox.adapters.postgres.insight import PostgresInsight
from relaybox.core.events import decode_headers
from relaybox.outbox.tables import Tables
from relaybox.ports.store import DeadEvent, DeadFilter, ParkedKey, SchemaState, Status

_DEAD_COLUMNS = (
    "id, event_id, topic, key, seq, type, aggregate_type, content_type, payload, headers, "
    "created_at, attempts, first_failed_at, last_failed_at, error, error_type, dead_at"
)


DURABLE = "SET LOCAL synchronous_commit TO on"
"""Operators' changes wait for the disk, unlike the relay's own bookkeeping."""


class PostgresAdmin(PostgresInsight):
    def __init__(self, pool: asyncpg.Pool, tables: Tables) -> None:
        self._pool = pool
        self._tables = tables

    # -- schema -------------------------------------------------------------

    async def migrate(self) -> list[int]:
        """Apply missing migrations in one transaction; concurrent callers wait their turn."""
        t = self._tables
        applied: list[int] = []
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(DURABLE)
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", t.migrations)
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {t.migrations} (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in await conn.fetch(f"SELECT version FROM {t.migrations}")}
            for migration in migrations("postgresql", t):
                if migration.version in done:
                    continue
                for statement in statements(migration.sql):
                    await conn.execute(statement)
                await conn.execute(
                    f"INSERT INTO {t.migrations} (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
                applied.append(migration.version)
        return applied

    async def schema(self) -> SchemaState:
        t = self._tables
        async with self._pool.acquire() as conn:
            exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", t.migrations)
            current = (
                await conn.fetchval(f"SELECT max(version) FROM {t.migrations}") if exists else 0
            )
        return SchemaState(current or 0, latest("postgresql"))

    async def drop(self) -> None:
        """Remove every outbox table (tests and tear-downs; never called by the relay)."""
        t = self._tables
        async with self._pool.acquire() as conn:
            await conn.execute(
                f"DROP TABLE IF EXISTS {t.events}, {t.keys}, {t.lanes}, {t.claims}, {t.dead}, "
                f"{t.migrations}; "
                f"DROP SEQUENCE IF EXISTS {t.tokens}"
            )

    # -- looking ------------------------------------------------------------

    async def status(self) -> Status:
        t = self._tables
        row = await self._pool.fetchrow(
            f"""
            SELECT
              (SELECT count(*) FROM {t.events}) AS pending,
              (SELECT count(*) FROM {t.claims} c CROSS JOIN unnest(c.ids) AS i(id)
                JOIN {t.events} e ON e.id = i.id WHERE c.expires_at > now()) AS in_flight,
              (SELECT count(*) FROM {t.events} WHERE last_error IS NOT NULL) AS retrying,
              (SELECT count(*) FROM {t.dead}) AS dead,
              (SELECT count(*) FROM {t.lanes} WHERE parked_at IS NOT NULL) AS parked,
              (SELECT extract(epoch FROM now() - min(created_at)) FROM {t.events}) AS oldest
            """
        )
        assert row is not None
        oldest = row["oldest"]
        return Status(
            row["pending"],
            row["in_flight"],
            row["retrying"],
            row["dead"],
            row["parked"],
            None if oldest is None else float(oldest),
        )

    async def pending_topics(self) -> list[str]:
        rows = await self._pool.fetch(f"SELECT DISTINCT topic FROM {self._tables.events}")
        return sorted(r[0] for r in rows)

    async def dead_letters(self, where: DeadFilter, limit: int, /) -> list[DeadEvent]:
        clause, args = _where(where)
        rows = await self._pool.fetch(
            f"SELECT {_DEAD_COLUMNS} FROM {self._tables.dead} WHERE {clause} "
            f"ORDER BY id LIMIT ${len(args) + 1}",
            *args,
            limit,
        )
        return [_dead(r) for r in rows]

    async def parked(self, limit: int, /) -> list[ParkedKey]:
        t = self._tables
        rows = await self._pool.fetch(
            f"""
            SELECT substr(l.lane, 3) AS key, l.parked_at, l.parked_event_id, l.parked_reason,
                   (SELECT count(*) FROM {t.events} e WHERE e.lane = l.lane) AS pending
            FROM {t.lanes} l WHERE l.parked_at IS NOT NULL ORDER BY l.parked_at LIMIT $1
            """,
            limit,
        )
        return [ParkedKey(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    # -- acting -------------------------------------------------------------

    async def _durably(self, sql: str, *args: object) -> int:
        """Run one statement in a transaction that waits for the disk; the rows it touched."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(DURABLE)
            status: str = await conn.execute(sql, *args)
        return int(status.rsplit(" ", 1)[-1])

    async def unpark(self, key: str, /) -> bool:
        t = self._tables
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(DURABLE)
            # A lane row only says "wait" or "stop": an open lane has none.
            opened = await conn.fetchval(
                f"DELETE FROM {t.lanes} WHERE lane = $1 AND parked_at IS NOT NULL RETURNING true",
                "k:" + key,
            )
            if opened:
                await conn.execute(_CLAIMABLE.format(events=t.events), "k:" + key)
        return bool(opened)

    async def purge(self, where: DeadFilter, limit: int | None, /) -> int:
        clause, args = _where(where)
        cap = "" if limit is None else f" ORDER BY id LIMIT {int(limit)}"
        return await self._durably(
            f"DELETE FROM {self._tables.dead} WHERE id IN "
            f"(SELECT id FROM {self._tables.dead} WHERE {clause}{cap})",
            *args,
        )

    async def replay(self, where: DeadFilter, limit: int | None, /) -> int:
        """Put dead letters back, keeping each key's order (see ``OutboxAdmin``)."""
        t = self._tables
        clause, args = _where(where)
        cap = "" if limit is None else f" LIMIT {int(limit)}"
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(DURABLE)
            rows = await conn.fetch(
                f"SELECT * FROM {t.dead} WHERE {clause} ORDER BY lane, seq, id{cap} "
                "FOR UPDATE SKIP LOCKED",
                *args,
            )
            for row in rows:
                await self._replay_one(conn, row)
        return len(rows)

    async def _replay_one(self, conn: Any, row: asyncpg.Record) -> None:
        t = self._tables
        seq = row["seq"]
        parked_here = False
        if row["key"] is not None:
            parked_here = await conn.fetchval(
                f"DELETE FROM {t.lanes} WHERE lane = $1 AND parked_event_id = $2 RETURNING true",
                row["lane"],
                row["event_id"],
            )
            if parked_here:
                # Writers of the key wait from here on, and one that already drew
                # its id commits first: the renumbering below sees its event.
                await conn.execute(f"SELECT 1 FROM {t.keys} WHERE key = $1 FOR UPDATE", row["key"])
                await conn.execute(_CLAIMABLE.format(events=t.events), row["lane"])
            else:
                # The key moved on without it: rejoin at the tail, after what is pending.
                seq = await conn.fetchval(
                    f"INSERT INTO {t.keys} AS k (key, last_seq) VALUES ($1, 1) "
                    "ON CONFLICT (key) DO UPDATE SET last_seq = k.last_seq + 1 RETURNING last_seq",
                    row["key"],
                )
        await conn.execute(
            f"INSERT INTO {t.events} (event_id, topic, key, seq, lane, type, aggregate_type, "
            "content_type, payload, headers, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            row["event_id"],
            row["topic"],
            row["key"],
            seq,
            row["lane"],
            row["type"],
            row["aggregate_type"],
            row["content_type"],
            row["payload"],
            row["headers"],
            row["created_at"],
        )
        await conn.execute(f"DELETE FROM {t.dead} WHERE id = $1", row["id"])
        if parked_here:
            # Back in front of what is pending of its key: give those events new
            # ids behind it, as the relay reads a key's events in id order.
            await conn.execute(_BEHIND.format(events=t.events), row["lane"], seq)


_COLUMNS = (
    "event_id, topic, key, seq, lane, type, aggregate_type, content_type, payload, headers, "
    "created_at, available_at, attempts, lease_expiries, first_failed_at, last_failed_at, "
    "last_error"
)
# A lane no longer parked: the events set aside while it was are claimable again.
_CLAIMABLE = "UPDATE {events} SET parked = NULL WHERE lane = $1 AND parked"
_BEHIND = f"""
WITH behind AS (DELETE FROM {{events}} WHERE lane = $1 AND seq > $2 RETURNING *)
INSERT INTO {{events}} ({_COLUMNS}) SELECT {_COLUMNS} FROM behind ORDER BY seq, id
"""


def _where(where: DeadFilter) -> tuple[str, list[object]]:
    parts: list[str] = []
    args: list[object] = []
    if where.ids is not None:
        args.append(list(where.ids))
        parts.append(f"event_id = ANY(${len(args)}::text[])")
    if where.topic is not None:
        args.append(where.topic)
        parts.append(f"topic = ${len(args)}")
    if where.key is not None:
        args.append(where.key)
        parts.append(f"key = ${len(args)}")
    if where.older_than is not None:
        args.append(where.older_than)
        parts.append(f"dead_at < now() - make_interval(secs => ${len(args)})")
    return (" AND ".join(parts) or "true"), args


def _dead(r: asyncpg.Record) -> DeadEvent:
    return DeadEvent(
        r["id"],
        r["event_id"],
        r["topic"],
        r["key"],
        r["seq"],
        r["type"],
        r["aggregate_type"],
        r["content_type"],
        r["payload"],
        decode_headers(r["headers"]),
        r["created_at"],
        r["attempts"],
        r["first_failed_at"],
        r["last_failed_at"],
        r["error"],
        r["error_type"],
        r["dead_at"],
    )
