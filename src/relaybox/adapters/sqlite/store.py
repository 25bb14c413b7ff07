"""The relay's side of the SQLite outbox: claim, settle, extend, clean up.

Each operation is one ``BEGIN IMMEDIATE`` transaction: SQLite has a single
writer, so a claim never interleaves with another relay's claim or settle.

A lease is one row of the claims table per claim: its fencing token, owner,
expiry, the lanes it holds and the event ids it handed out (JSON arrays). A
lane is leased while an unexpired claim lists it; a settle deletes the claim's
row, and a claim that finds an expired row counts an attempt for each event it
handed out before deleting it. Lane rows exist only while a lane is held shut
for a retry or parked.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from relaybox.adapters.sqlite.admin import SqliteAdmin
from relaybox.adapters.sqlite.connection import NOW, Database, SqlRow, immediate, to_datetime
from relaybox.core.errors import LeaseExpiredError, SchemaMissingError
from relaybox.core.events import Message, decode_headers
from relaybox.outbox.decisions import describe
from relaybox.outbox.settling import SettlePlan
from relaybox.outbox.tables import Tables
from relaybox.ports.store import Claim, Settlement, SettleReport

_COLUMNS = (
    "id, event_id, topic, key, seq, lane, type, aggregate_type, content_type, payload, "
    "headers, created_at, attempts, lease_expiries, first_failed_at"
)
CLAIM_BYTES = 16 * 1024 * 1024
"""A claim's payload budget: it stops at the event that would pass it (the first always fits)."""


class SqliteStore(SqliteAdmin):
    """The outbox in a SQLite file: implements ``OutboxStore`` and ``OutboxAdmin``."""

    def __init__(self, db: Database, tables: Tables, *, claim_bytes: int = CLAIM_BYTES) -> None:
        super().__init__(db, tables)
        self.claims = 0
        self.claim_bytes = claim_bytes

    @classmethod
    def open(
        cls, path: str | Path, tables: Tables | None = None, *, claim_bytes: int = CLAIM_BYTES
    ) -> SqliteStore:
        return cls(Database(path), tables or Tables(), claim_bytes=claim_bytes)

    async def claim(self, owner: str, limit: int, lease: float, /) -> Claim:
        try:
            claim = await self._db.run(lambda conn: self._claim(conn, owner, limit, lease))
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            raise SchemaMissingError(
                f"the outbox {self._tables.name} in {self._db.path} is missing a table ({exc})"
            ) from exc
        self.claims += 1
        return claim

    def _claim(self, conn: sqlite3.Connection, owner: str, limit: int, lease: float) -> Claim:
        t = self._tables
        with immediate(conn):
            now = conn.execute(f"SELECT {NOW}").fetchone()[0]
            expired = conn.execute(
                f"DELETE FROM {t.claims} WHERE expires_at <= ? RETURNING owner, ids", (now,)
            ).fetchall()
            again = self._count_reclaimed(conn, expired, now)
            blocked = [
                r[0]
                for r in conn.execute(
                    f"""SELECT j.value FROM {t.claims} c, json_each(c.lanes) j
                        UNION SELECT lane FROM {t.lanes}
                        WHERE parked_at IS NOT NULL OR available_at > :now""",
                    {"now": now},
                )
            ]
            candidates = [
                r[0]
                for r in conn.execute(
                    f"""SELECT DISTINCT lane FROM (
                        SELECT e.lane FROM {t.events} e
                        WHERE e.parked IS NULL AND e.available_at <= :now
                          AND e.lane NOT IN (SELECT value FROM json_each(:blocked))
                        ORDER BY e.id LIMIT :limit)
                        ORDER BY lane""",
                    {"now": now, "blocked": json.dumps(blocked), "limit": limit},
                )
            ]
            if not candidates:
                return Claim(owner, 0, (), ())
            messages = self._fetch(conn, candidates, limit, now)
            if not messages:
                return Claim(owner, 0, (), ())
            lanes = list(dict.fromkeys(m.lane for m in messages))
            token = conn.execute(
                f"UPDATE {t.tokens} SET value = value + 1 RETURNING value"
            ).fetchone()[0]
            conn.execute(
                f"""INSERT INTO {t.claims} (token, owner, claimed_at, expires_at, lanes, ids)
                    VALUES (:token, :owner, :now, :now + :lease, :lanes, :ids)""",
                {
                    "token": token,
                    "owner": owner,
                    "now": now,
                    "lease": lease,
                    "lanes": json.dumps(lanes),
                    "ids": json.dumps([m.row_id for m in messages]),
                },
            )
        count = sum(1 for m in messages if m.row_id in again)
        return Claim(owner, token, tuple(lanes), messages, count)

    def _count_reclaimed(
        self, conn: sqlite3.Connection, expired: Sequence[tuple[str, str]], now: float
    ) -> set[int]:
        """An expired, unsettled lease may have published its events: count an attempt.

        Exactly the events that lease handed out, kept on its claim as a JSON list.
        """
        ids: set[int] = set()
        for owner, handed_out in expired:
            error = LeaseExpiredError(f"the lease of relay {owner} expired before it settled")
            conn.execute(
                f"""UPDATE {self._tables.events} SET lease_expiries = lease_expiries + 1,
                        last_failed_at = :now, last_error = :error
                    WHERE id IN (SELECT value FROM json_each(:ids))""",
                {"now": now, "error": describe(error), "ids": handed_out},
            )
            ids.update(json.loads(handed_out))
        return ids

    def _fetch(
        self, conn: sqlite3.Connection, lanes: Sequence[str], limit: int, now: float
    ) -> tuple[Message, ...]:
        per_lane = max(1, -(-limit // len(lanes)))
        heads: list[list[SqlRow]] = []
        for lane in lanes:
            heads.append(
                conn.execute(
                    f"SELECT {_COLUMNS} FROM {self._tables.events} WHERE lane = ? "
                    "AND (key IS NOT NULL OR available_at <= ?) ORDER BY seq, id LIMIT ?",
                    (lane, now, per_lane),
                ).fetchall()
            )
        kept = (r for rows in _round_robin(heads, limit) for r in rows)
        return tuple(_message(r) for r in _within(kept, self.claim_bytes))

    async def settle(self, claim: Claim, settlement: Settlement, /) -> SettleReport:
        if not claim.lanes:
            return SettleReport(0)
        return await self._db.run(lambda conn: self._settle(conn, claim, settlement))

    def _settle(
        self, conn: sqlite3.Connection, claim: Claim, settlement: Settlement
    ) -> SettleReport:
        t = self._tables
        with immediate(conn):
            released = conn.execute(
                f"DELETE FROM {t.claims} WHERE token = ? AND expires_at > {NOW}", (claim.token,)
            ).rowcount
            if not released:
                return SettleReport(0, settlement.decided())
            plan = SettlePlan.build(claim, settlement)
            conn.execute(
                f"DELETE FROM {t.events} WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(plan.delivered),),
            )
            conn.executemany(
                f"""UPDATE {t.events} SET attempts = attempts + ?, available_at = {NOW} + ?,
                        first_failed_at = coalesce(first_failed_at, {NOW}),
                        last_failed_at = {NOW}, last_error = ? WHERE id = ?""",
                [(int(r.counted), r.delay, r.error, r.message.row_id) for r in plan.retry],
            )
            for dead in plan.dead:
                conn.execute(
                    f"""INSERT INTO {t.dead} (row_id, event_id, topic, key, seq, lane, type,
                            aggregate_type, content_type, payload, headers, created_at, attempts,
                            lease_expiries, first_failed_at, last_failed_at, error, error_type)
                        SELECT id, event_id, topic, key, seq, lane, type, aggregate_type,
                            content_type, payload, headers, created_at, ?, lease_expiries,
                            coalesce(first_failed_at, {NOW}), {NOW}, ?, ?
                        FROM {t.events} WHERE id = ?""",
                    (dead.attempts, dead.error, dead.error_type, dead.message.row_id),
                )
                conn.execute(f"DELETE FROM {t.events} WHERE id = ?", (dead.message.row_id,))
            conn.executemany(
                f"""INSERT INTO {t.lanes} (lane, available_at, parked_at, parked_event_id,
                        parked_reason)
                    VALUES (?1, CASE WHEN ?2 IS NULL THEN 0 ELSE {NOW} + ?2 END,
                        CASE WHEN ?3 IS NULL THEN NULL ELSE {NOW} END, ?3, ?4)
                    ON CONFLICT (lane) DO UPDATE SET
                        available_at = CASE WHEN ?2 IS NULL THEN available_at
                            ELSE excluded.available_at END,
                        parked_at = coalesce(excluded.parked_at, parked_at),
                        parked_event_id = coalesce(excluded.parked_event_id, parked_event_id),
                        parked_reason = coalesce(excluded.parked_reason, parked_reason)""",
                [(u.lane, u.hold, u.park_event_id, u.park_reason) for u in plan.lanes],
            )
            # A parked lane's pending events are set aside: claims never step over them.
            conn.executemany(
                f"UPDATE {t.events} SET parked = 1 WHERE lane = ? AND parked IS NULL",
                [(u.lane,) for u in plan.lanes if u.park_event_id is not None],
            )
        return SettleReport(plan.settled)

    async def extend(self, claim: Claim, lease: float, /) -> bool:
        if not claim.lanes:
            return True
        t = self._tables

        def work(conn: sqlite3.Connection) -> bool:
            with immediate(conn):
                cursor = conn.execute(
                    f"UPDATE {t.claims} SET expires_at = {NOW} + ? "
                    f"WHERE token = ? AND expires_at > {NOW}",
                    (lease, claim.token),
                )
                return cursor.rowcount == 1

        return await self._db.run(work)

    async def cleanup(self, dead_retention: float, batch_size: int, /) -> int:
        t = self._tables
        # Events written for a parked key after it parked are set aside too.
        set_aside = f"""UPDATE {t.events} SET parked = 1 WHERE parked IS NULL AND lane IN
            (SELECT lane FROM {t.lanes} WHERE parked_at IS NOT NULL)"""
        statements = (
            f"""DELETE FROM {t.dead} WHERE id IN (SELECT id FROM {t.dead}
                WHERE dead_at < {NOW} - :retention ORDER BY id LIMIT :batch)""",
            f"""DELETE FROM {t.lanes} WHERE lane IN (SELECT lane FROM {t.lanes}
                WHERE parked_at IS NULL AND available_at <= {NOW} LIMIT :batch)""",
        )

        def work(conn: sqlite3.Connection) -> int:
            with immediate(conn):
                conn.execute(set_aside)
            removed = 0
            for statement in statements:
                while True:
                    with immediate(conn):
                        count = conn.execute(
                            statement, {"retention": dead_retention, "batch": batch_size}
                        ).rowcount
                    removed += count
                    if count < batch_size:
                        break
            return removed

        return await self._db.run(work)

    def __repr__(self) -> str:
        return f"SqliteStore(path={self._db.path!r}, table={self._tables.name!r})"


def _round_robin(heads: list[list[SqlRow]], limit: int) -> list[list[SqlRow]]:
    """Keep each lane's first rows, one lane at a time, until ``limit`` rows are kept."""
    kept: list[list[SqlRow]] = [[] for _ in heads]
    total, depth = 0, 0
    while total < limit:
        progressed = False
        for index, rows in enumerate(heads):
            if depth < len(rows) and total < limit:
                kept[index].append(rows[depth])
                total += 1
                progressed = True
        if not progressed:
            break
        depth += 1
    return kept


def _within(rows: Iterator[SqlRow], budget: int) -> Iterator[SqlRow]:
    """The rows while the payloads before them stay under ``budget`` bytes (the first always)."""
    before = 0
    for row in rows:
        if before and before >= budget:
            return
        before += len(row[9])
        yield row


def _message(r: SqlRow) -> Message:
    return Message(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[6],
        r[7],
        r[8],
        bytes(r[9]),
        decode_headers(r[10]),
        to_datetime(r[11]),
        r[12],
        r[5],
        r[13],
        None if r[14] is None else to_datetime(r[14]),
    )
