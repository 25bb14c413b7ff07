"""What operators do with a SQLite outbox: schema, status, dead letters, parked keys."""

from __future__ import annotations

import sqlite3

from relaybox.adapters.migrations import latest, migrations, statements
from relaybox.adapters.sqlite.connection import (
    NOW,
    Database,
    SqlRow,
    immediate,
    to_datetime,
    to_optional_datetime,
)
from relaybox.adapters.sqlite.insight import SqliteInsight
from relaybox.core.events import decode_headers
from relaybox.outbox.tables import Tables
from relaybox.ports.store import DeadEvent, DeadFilter, ParkedKey, SchemaState, Status

_DEAD_COLUMNS = (
    "id, event_id, topic, key, seq, type, aggregate_type, content_type, payload, headers, "
    "created_at, attempts, first_failed_at, last_failed_at, error, error_type, dead_at"
)


class SqliteAdmin(SqliteInsight):
    def __init__(self, db: Database, tables: Tables) -> None:
        self._db = db
        self._tables = tables

    async def close(self) -> None:
        await self._db.close()

    async def migrate(self) -> list[int]:
        t = self._tables

        def work(conn: sqlite3.Connection) -> list[int]:
            applied: list[int] = []
            with immediate(conn):
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {t.migrations} (version INTEGER PRIMARY KEY, "
                    f"name TEXT NOT NULL, applied_at REAL NOT NULL DEFAULT ({NOW}))"
                )
                done = {r[0] for r in conn.execute(f"SELECT version FROM {t.migrations}")}
                for migration in migrations("sqlite", t):
                    if migration.version in done:
                        continue
                    for statement in statements(migration.sql):
                        conn.execute(statement)
                    conn.execute(
                        f"INSERT INTO {t.migrations} (version, name) VALUES (?, ?)",
                        (migration.version, migration.name),
                    )
                    applied.append(migration.version)
            return applied

        return await self._db.run(work)

    async def schema(self) -> SchemaState:
        t = self._tables

        def work(conn: sqlite3.Connection) -> int:
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (t.migrations,)
            ).fetchone()
            if not exists:
                return 0
            return int(
                conn.execute(f"SELECT coalesce(max(version), 0) FROM {t.migrations}").fetchone()[0]
            )

        return SchemaState(await self._db.run(work), latest("sqlite"))

    async def status(self) -> Status:
        t = self._tables

        def work(conn: sqlite3.Connection) -> Status:
            row = conn.execute(
                f"""SELECT
                  (SELECT count(*) FROM {t.events}),
                  (SELECT count(*) FROM {t.claims} c, json_each(c.ids) j
                    JOIN {t.events} e ON e.id = j.value WHERE c.expires_at > {NOW}),
                  (SELECT count(*) FROM {t.events} WHERE last_error IS NOT NULL),
                  (SELECT count(*) FROM {t.dead}),
                  (SELECT count(*) FROM {t.lanes} WHERE parked_at IS NOT NULL),
                  (SELECT {NOW} - min(created_at) FROM {t.events})"""
            ).fetchone()
            return Status(row[0], row[1], row[2], row[3], row[4], row[5])

        return await self._db.run(work)

    async def pending_topics(self) -> list[str]:
        sql = f"SELECT DISTINCT topic FROM {self._tables.events}"
        rows = await self._db.run(lambda conn: conn.execute(sql).fetchall())
        return sorted(r[0] for r in rows)

    async def dead_letters(self, where: DeadFilter, limit: int, /) -> list[DeadEvent]:
        clause, args = _where(where)

        def work(conn: sqlite3.Connection) -> list[DeadEvent]:
            rows = conn.execute(
                f"SELECT {_DEAD_COLUMNS} FROM {self._tables.dead} WHERE {clause} "
                "ORDER BY id LIMIT ?",
                (*args, limit),
            ).fetchall()
            return [_dead(r) for r in rows]

        return await self._db.run(work)

    async def parked(self, limit: int, /) -> list[ParkedKey]:
        t = self._tables

        def work(conn: sqlite3.Connection) -> list[ParkedKey]:
            rows = conn.execute(
                f"""SELECT substr(l.lane, 3), l.parked_at, l.parked_event_id, l.parked_reason,
                       (SELECT count(*) FROM {t.events} e WHERE e.lane = l.lane)
                    FROM {t.lanes} l WHERE l.parked_at IS NOT NULL ORDER BY l.parked_at LIMIT ?""",
                (limit,),
            ).fetchall()
            return [ParkedKey(r[0], to_datetime(r[1]), r[2], r[3], r[4]) for r in rows]

        return await self._db.run(work)

    async def unpark(self, key: str, /) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            with immediate(conn):
                return _unpark(conn, self._tables, "k:" + key, None)

        return await self._db.run(work)

    async def purge(self, where: DeadFilter, limit: int | None, /) -> int:
        clause, args = _where(where)
        cap = "" if limit is None else f" ORDER BY id LIMIT {int(limit)}"
        t = self._tables

        def work(conn: sqlite3.Connection) -> int:
            with immediate(conn):
                chosen = f"SELECT id FROM {t.dead} WHERE {clause}{cap}"
                return conn.execute(f"DELETE FROM {t.dead} WHERE id IN ({chosen})", args).rowcount

        return await self._db.run(work)

    async def replay(self, where: DeadFilter, limit: int | None, /) -> int:
        """Put dead letters back, keeping each key's order (see ``OutboxAdmin``)."""
        clause, args = _where(where)
        cap = "" if limit is None else f" LIMIT {int(limit)}"
        t = self._tables

        def work(conn: sqlite3.Connection) -> int:
            with immediate(conn):
                rows = conn.execute(
                    f"SELECT id, event_id, topic, key, seq, lane, type, aggregate_type, "
                    f"content_type, payload, headers, created_at FROM {t.dead} WHERE {clause} "
                    f"ORDER BY lane, seq, id{cap}",
                    args,
                ).fetchall()
                for row in rows:
                    _replay_one(conn, t, row)
                return len(rows)

        return await self._db.run(work)


def _unpark(conn: sqlite3.Connection, t: Tables, lane: str, event_id: str | None) -> bool:
    """Open a parked lane (only if ``event_id`` parked it, when given), dropping any hold too.

    A lane row exists only while the lane is held shut, so opening it deletes the row.
    """
    only_for = "" if event_id is None else " AND parked_event_id = :event"
    opened = (
        conn.execute(
            f"DELETE FROM {t.lanes} WHERE lane = :lane AND parked_at IS NOT NULL{only_for}",
            {"lane": lane, "event": event_id},
        ).rowcount
        == 1
    )
    if opened:  # its events were set aside while it was parked: claimable again
        conn.execute(f"UPDATE {t.events} SET parked = NULL WHERE lane = ? AND parked", (lane,))
    return opened


def _replay_one(conn: sqlite3.Connection, t: Tables, row: SqlRow) -> None:
    row_id, event_id, _topic, key, seq, lane = row[:6]
    if key is not None and not _unpark(conn, t, str(lane), str(event_id)):
        # The key moved on without it: rejoin at the tail, after what is pending.
        seq = conn.execute(
            f"INSERT INTO {t.keys} (key, last_seq) VALUES (?, 1) "
            "ON CONFLICT (key) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
            (key,),
        ).fetchone()[0]
    conn.execute(
        f"INSERT INTO {t.events} (event_id, topic, key, seq, lane, type, aggregate_type, "
        "content_type, payload, headers, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*row[1:4], seq, *row[5:]),
    )
    conn.execute(f"DELETE FROM {t.dead} WHERE id = ?", (row_id,))


def _where(where: DeadFilter) -> tuple[str, list[object]]:
    parts: list[str] = []
    args: list[object] = []
    if where.ids is not None:
        ids = list(where.ids)
        parts.append(f"event_id IN ({', '.join('?' * len(ids)) or 'NULL'})")
        args.extend(ids)
    if where.topic is not None:
        parts.append("topic = ?")
        args.append(where.topic)
    if where.key is not None:
        parts.append("key = ?")
        args.append(where.key)
    if where.older_than is not None:
        parts.append(f"dead_at < {NOW} - ?")
        args.append(where.older_than)
    return (" AND ".join(parts) or "1"), args


def _dead(r: SqlRow) -> DeadEvent:
    return DeadEvent(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        r[7],
        bytes(r[8]),
        decode_headers(r[9]),
        to_datetime(r[10]),
        r[11],
        to_optional_datetime(r[12]),
        to_optional_datetime(r[13]),
        r[14],
        r[15],
        to_datetime(r[16]),
    )
